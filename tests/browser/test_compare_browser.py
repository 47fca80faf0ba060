"""Comparing sweeps in JupyterLab, in a real Chromium: frozen and unfrozen on one chart.

One notebook runs quickstart's own cells: the imports, the digits Learner, then its "compare"
section (the first layer frozen, a sweep; ``learn.unfreeze()``, a second sweep).  In the page
both sweeps must be drawn together: the current (unfrozen) one in full with its markers at its
readout LRs, the frozen one as a dashed curve with one point per rule in the rules' colours, a
legend naming both, and a readout column holding the frozen sweep's LRs — equal to
``analyze(sweep)`` in the kernel.  Clearing the frozen sweep's check box in the page removes its
curve, its points and its legend entry; ticking it again brings them back.  The screenshot at
1280 px is ``docs/compare.png`` when ``LRWIDGET_UPDATE_SCREENSHOT=1``; at 620 px and in the
dark theme the widget must still fit and show both sweeps.

Every wait polls a state of the page; nothing depends on how fast the machine is.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import jupyter_harness as harness
from tests.browser import lrw_page

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "compare_browser.ipynb"
WIDTH, NARROW_WIDTH, HEIGHT = 1280, 620, 1500

KERNEL_FACTS = """import json
from lrwidget import analyze

print(json.dumps({
    "labels": [sweep.label for sweep in c.sweeps],
    "valleys": [float(analyze(sweep).rules["valley"].lr) for sweep in c.sweeps],
}))"""

# What the page shows of the comparison: the long dashed curves (an earlier sweep's smoothed
# loss; the minimum's link is dashed too but has two points), the filled dots that are not
# circles (an earlier sweep's rule points; the current sweep's are circles), the legend and the
# readout's compare cells.
COMPARE_JS = r"""
() => {
  const svg = document.querySelector('.lrw-figure svg.svg-figure');
  if (!svg) return null;
  const dashed = Array.from(svg.querySelectorAll('path.line')).filter((path) => {
    const style = getComputedStyle(path);
    const points = (path.getAttribute('d') || '').split(/[LM]/).length - 1;
    return style.strokeDasharray !== 'none' && style.strokeDasharray !== '' && points > 20
      && style.display !== 'none' && Number(style.opacity || 1) > 0;
  }).length;
  const squares = Array.from(svg.querySelectorAll('path.dot')).filter((dot) => {
    const d = dot.getAttribute('d') || '';
    // a circle's path has arcs; the handles are grey, dots pinned above the chart raw blue
    const style = getComputedStyle(dot);
    return !/A/.test(d) && style.display !== 'none'
      && !['rgb(140, 140, 140)', 'rgb(141, 187, 230)'].includes(style.fill);
  }).length;
  const legend = Array.from(document.querySelectorAll('.lrw-legend-item'))
    .map((item) => item.getAttribute('data-label'));
  const cells = Array.from(document.querySelectorAll('.lrw-compare-cell'))
    .map((cell) => ({sweep: cell.getAttribute('data-sweep'),
                     lr: Number(cell.getAttribute('data-lr')),
                     rule: cell.closest('tr').getAttribute('data-rule')}));
  const boxes = Array.from(document.querySelectorAll('.lrw-shown-sweep'))
    .map((box) => ({label: box.textContent.replace(/\u200b/g, '').trim(),
                    checked: box.querySelector('input').checked}));
  return {dashed, squares, legend, cells, boxes};
}
"""


@pytest.fixture(scope="module")
def lab(browser: Any, lab_server: harness.Server, lab_root: Path) -> Iterator[Any]:
    """quickstart's compare section, run, in one full-width page for the module."""
    cells = [
        lrw_page.quickstart_cell(None),
        lrw_page.quickstart_cell("learner"),
        lrw_page.quickstart_cell("compare"),
        lrw_page.quickstart_cell("compare-unfrozen"),
        "pass  # scratch cell for the tests",
    ]
    harness.write_notebook(lab_root / NOTEBOOK, cells)
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    try:
        notebook = harness.LabNotebook.open(page, lab_server, NOTEBOOK)
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        key = notebook.run_above(len(cells) - 1)
        notebook.wait_for(".lrw-figure .svg-figure")
        notebook.wait_run(key)
        lrw_page.wait_finished(page)
        notebook.wait_js("() => document.querySelectorAll('.lrw-legend-item').length === 2")
        notebook.execute("c.wait(60, chart=True)  # every part of the final update is sent")
        # the final update: the status line and the progress text say the second sweep ended
        notebook.wait_js(
            "() => /^done/.test(document.querySelector('.lrw-status').textContent.trim())"
            " && /^100 \\/ 100/.test(document.querySelector('.lrw-progress-text').textContent)"
        )
        yield notebook
    finally:
        context.close()
        lab_server.shutdown_kernels()


def _state(lab: harness.LabNotebook, condition: str) -> dict[str, Any]:
    """The comparison as drawn, once ``condition`` (JS on ``s``) holds."""
    lab.wait_js(f"() => {{ const s = ({COMPARE_JS})(); return s && ({condition}); }}")
    state: dict[str, Any] = lab.page.evaluate(COMPARE_JS)
    return state


def test_frozen_and_unfrozen_are_drawn_together(lab: harness.LabNotebook, tmp_path: Path) -> None:
    facts = json.loads(lab.execute(KERNEL_FACTS).strip().splitlines()[-1])
    assert facts["labels"] == ["frozen", "unfrozen"]
    state = _state(lab, "s.dashed >= 1 && s.squares >= 1")
    assert state["legend"] == ["unfrozen", "frozen"], state  # the current one first
    assert state["dashed"] == 1 and state["squares"] == 4, state  # one curve, four rule points
    valley = [cell for cell in state["cells"] if cell["rule"] == "valley"]
    assert valley == [{"sweep": "frozen", "lr": facts["valleys"][0], "rule": "valley"}], state
    lrw_page.assert_markers_match(lab.page)  # the current sweep's markers at its readout LRs
    rows = {row.rule: row.lr for row in lrw_page.rows(lab.page)}
    assert rows["valley"] == facts["valleys"][1]

    shot = lrw_page.widget_screenshot(lab, tmp_path / "compare.png")
    if os.environ.get("LRWIDGET_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "compare.png")


def test_a_sweep_switched_off_leaves_the_chart_and_comes_back(lab: harness.LabNotebook) -> None:
    page = lab.page
    boxes = _state(lab, "s.boxes.length === 2")["boxes"]
    assert [box["label"] for box in boxes] == ["frozen", "unfrozen"], boxes
    page.locator(".lrw-shown-sweep input").first.click()
    hidden = _state(lab, "s.legend.length === 0")
    assert hidden["dashed"] == 0 and hidden["squares"] == 0 and hidden["cells"] == [], hidden
    assert lab.execute("print(c.shown_sweeps)").strip() == "[1]"
    page.locator(".lrw-shown-sweep input").first.click()
    shown = _state(lab, "s.legend.length === 2 && s.dashed === 1")
    assert shown["squares"] == 4, shown
    assert lab.execute("print(c.shown_sweeps)").strip() == "[0, 1]"


def test_narrow_and_dark_still_show_both(lab: harness.LabNotebook, tmp_path: Path) -> None:
    page = lab.page
    page.set_viewport_size({"width": NARROW_WIDTH, "height": HEIGHT})
    try:
        lab.wait_js(FITS_JS)
        state = _state(lab, "s.dashed === 1 && s.squares === 4")
        assert state["legend"] == ["unfrozen", "frozen"], state
        lrw_page.widget_screenshot(lab, tmp_path / "compare-narrow.png")
    finally:
        page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    try:
        lab.set_theme("JupyterLab Dark")
        _state(lab, "s.dashed === 1 && s.squares === 4")
        lrw_page.widget_screenshot(lab, tmp_path / "compare-dark.png")
    finally:
        lab.set_theme("JupyterLab Light")


FITS_JS = r"""
() => {
  const root = document.querySelector('.lrw-root').getBoundingClientRect();
  const svg = document.querySelector('.lrw-figure svg.svg-figure');
  if (!svg) return false;
  const box = svg.getBoundingClientRect();
  const rows = Array.from(document.querySelectorAll('.lrw-compare-row, .lrw-legend-html'));
  return Math.abs(box.width - root.width) <= 4
    && rows.every((row) => row.getBoundingClientRect().right <= root.right + 1);
}
"""
