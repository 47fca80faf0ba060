"""LRFinderWidget in Jupyter Notebook 7, in a real Chromium (issue #17).

* The widget renders and streams a sweep, and a dragged slider updates the readout.
* Arrow keys on a focused slider.  Notebook 7 handles key presses before the page's elements
  do (Lumino's capture phase; JupyterLab switched to the bubbling phase, where the slider
  handles them first), so its command-mode shortcuts take the arrow keys: the slider does not
  move and ArrowUp selects the cell above.  A plain ``ipywidgets.FloatSlider`` behaves the
  same: this is https://github.com/jupyter/notebook/issues/7716, and no widget can opt out
  from Python (Lumino skips only elements with a ``data-lm-suppress-shortcuts`` attribute,
  which ipywidgets cannot set).  The README's workaround, a user setting that keeps those
  shortcuts off focused widgets, is read from the README itself and checked: with it the arrow
  keys move the slider and the readout follows, and the arrow keys still move between cells.
  Without it, the first test documents today's behaviour; when Notebook fixes the issue, it
  fails and says to drop the workaround.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import jupyter_harness as harness
from tests.browser import lrw_page

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "notebook7.ipynb"
SHORTCUTS = "@jupyterlab/shortcuts-extension/shortcuts.jupyterlab-settings"
UPSTREAM = "https://github.com/jupyter/notebook/issues/7716"

SETUP = f"""import sys

sys.path.insert(0, {str(REPO)!r})
import ipywidgets
from lrwidget import LRFinderWidget
from tests.support.engines import ReplayEngine, synthetic_sweep

plain = ipywidgets.FloatSlider(description="plain")
_ = plain.add_class("plain-slider")  # add_class returns the slider: not shown here"""
# A sweep of 100 batches, 40 ms each: long enough to watch it stream.
WIDGET = (
    "engine = ReplayEngine(synthetic_sweep(100), delay=0.04)\nw = engine.widget()\nw.start()\nw"
)
CELLS = [SETUP, WIDGET, "plain", "pass  # scratch cell for the tests"]
WIDGET_CELL, PLAIN_CELL = 1, 2


def readme_shortcuts() -> dict[str, Any]:
    """The keyboard-shortcut settings the README tells Notebook 7 users to add."""
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    found = [json.loads(block) for block in blocks if "notebook:move-cursor-down" in block]
    assert len(found) == 1, "the README must hold one JSON block of shortcut settings"
    return dict(found[0])


@pytest.fixture(scope="module")
def notebook7_server(
    tmp_path_factory: pytest.TempPathFactory, chromium_path: Path
) -> Iterator[harness.Server]:
    """Notebook 7 from the venv, private state, serving a root holding the test notebook."""
    root = tmp_path_factory.mktemp("notebook7-root")
    harness.write_notebook(root / NOTEBOOK, CELLS)
    server = harness.start_notebook7(root, tmp_path_factory.mktemp("notebook7-state"))
    try:
        yield server
    finally:
        server.stop()


def _settings_file(server: harness.Server) -> Path:
    return server.log_path.parent / "settings" / SHORTCUTS


@pytest.fixture
def notebook7(browser: Any, notebook7_server: harness.Server) -> Iterator[Any]:
    """A fresh page on the test notebook; its kernel is shut down afterwards."""
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()

    def opener() -> harness.LabNotebook:
        notebook = harness.LabNotebook.open(page, notebook7_server, NOTEBOOK, notebook7=True)
        notebook.run_cell(0)
        return notebook

    try:
        yield opener
    finally:
        context.close()
        notebook7_server.shutdown_kernels()


def _active_cell(lab: harness.LabNotebook) -> int:
    return int(lab.page.evaluate("(p) => window.__lrw.panel(p).content.activeCellIndex", lab.path))


def _focus_slider(lab: harness.LabNotebook, selector: str, cell: int) -> None:
    """Click the handle of slider ``selector`` (in cell ``cell``): the handle has the focus
    and the notebook makes its cell the active one."""
    page = lab.page
    page.locator(f"{selector} .noUi-handle").first.click()
    lab.wait_js(f"(p) => window.__lrw.panel(p).content.activeCellIndex === {cell}", lab.path)
    assert page.evaluate("() => document.activeElement.classList.contains('noUi-handle')")


def _press(lab: harness.LabNotebook, selector: str, keys: list[str]) -> list[str]:
    """Press ``keys``; the readout of slider ``selector`` after each."""
    shown = []
    for key in keys:
        lab.page.keyboard.press(key)
        lab.page.wait_for_timeout(300)  # a key's effect is synchronous; this lets it render
        shown.append(lrw_page.slider_readout(lab.page, selector))
    return shown


def _show(lab: harness.LabNotebook) -> None:
    lab.run_cell(WIDGET_CELL)
    lab.run_cell(PLAIN_CELL)
    lab.wait_for(".lrw-figure .svg-figure")
    lab.wait_for(".plain-slider .noUi-handle")


def test_widget_streams_and_a_dragged_slider_updates_the_readout(notebook7: Any) -> None:
    lab = notebook7()
    page = lab.page
    _show(lab)
    lrw_page.install_sampler(page)
    final = lrw_page.wait_finished(page)
    assert final["status"] == "done" and final["points"] == final["dots"] == 100
    growing = sorted(
        {s["dots"] for s in lrw_page.seen(page) if s["status"] == "running" and s["dots"]}
    )
    assert len(growing) >= 3, growing  # the points streamed in
    lrw_page.assert_markers_match(page)
    # The widget's stylesheet applies here too: the labels' theme colours are defined.
    assert page.evaluate(
        "() => getComputedStyle(document.querySelector('.lrw-root'))"
        ".getPropertyValue('--lrw-text-d62728').includes('color-mix')"
    )

    before = page.locator(".lrw-readout").first.inner_text()
    lab.drag_slider(".lrw-beta", -60)
    assert float(lrw_page.slider_readout(page, ".lrw-beta")) < 0.98
    lab.wait_js("(old) => document.querySelector('.lrw-readout').innerText !== old", before)
    lrw_page.assert_markers_match(page)


def test_without_the_setting_arrow_keys_move_the_notebook_not_the_slider(
    notebook7: Any,
) -> None:
    lab = notebook7()
    assert not _settings_file(lab.server).exists()
    _show(lab)
    lrw_page.wait_finished(lab.page)
    for selector, cell in ((".lrw-beta", WIDGET_CELL), (".plain-slider", PLAIN_CELL)):
        start = lrw_page.slider_readout(lab.page, selector)
        _focus_slider(lab, selector, cell)
        shown = _press(lab, selector, ["ArrowRight", "ArrowLeft"])
        if shown != [start, start]:
            pytest.fail(
                f"Notebook 7 now gives arrow keys to a focused slider ({selector}: {start} -> "
                f"{shown}); {UPSTREAM} may be fixed: drop the README's workaround and this test"
            )
        assert _active_cell(lab) == cell
        _focus_slider(lab, selector, cell)
        _press(lab, selector, ["ArrowUp"])
        assert _active_cell(lab) == cell - 1, "ArrowUp on the slider selects the cell above"


def test_the_readme_setting_gives_arrow_keys_to_sliders_and_keeps_cell_navigation(
    notebook7: Any, notebook7_server: harness.Server
) -> None:
    settings = _settings_file(notebook7_server)
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps(readme_shortcuts()))
    try:
        lab = notebook7()
        page = lab.page
        _show(lab)
        lrw_page.wait_finished(page)
        before = page.locator(".lrw-readout").first.inner_text()
        _focus_slider(lab, ".lrw-beta", WIDGET_CELL)
        shown = _press(lab, ".lrw-beta", ["ArrowLeft"] * 5 + ["ArrowRight"])
        assert shown == ["0.979", "0.978", "0.977", "0.976", "0.975", "0.976"], shown
        assert _active_cell(lab) == WIDGET_CELL
        lab.wait_js("(old) => document.querySelector('.lrw-readout').innerText !== old", before)
        assert lab.execute("print(w.beta)").strip() == "0.976"
        lrw_page.assert_markers_match(page)
        _focus_slider(lab, ".plain-slider", PLAIN_CELL)
        assert _press(lab, ".plain-slider", ["ArrowRight", "ArrowUp"]) == [
            "0.10",
            "0.20",
        ]
        assert _active_cell(lab) == PLAIN_CELL

        # A focused cell (command mode) still moves with the arrow keys.
        page.evaluate(
            """([p, i]) => { const notebook = window.__lrw.panel(p).content;
                notebook.activeCellIndex = i; notebook.mode = 'command';
                notebook.activeCell.node.focus(); }""",
            [lab.path, PLAIN_CELL],
        )
        page.keyboard.press("ArrowDown")
        lab.wait_js(
            f"(p) => window.__lrw.panel(p).content.activeCellIndex === {PLAIN_CELL + 1}",
            lab.path,
        )
    finally:
        settings.unlink()
