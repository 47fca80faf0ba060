"""notebooks/pytorch.ipynb in JupyterLab, in a real Chromium: plain PyTorch, the peers' rules.

The notebook is run whole ("Run All"), with two cells added around its own: one after the data
cell wraps ``train_loader`` so that every batch sleeps (the sweep then lasts several seconds
whatever the CPU, so the page can be caught mid-sweep), and one after ``w.wait()`` unwraps it
for the training loop.  While the sweep runs the raw-loss dots must appear and grow, under a
readout of torch-lr-finder's ``gradient`` rule; after the run, the "rules of" dropdown is
switched in the page to "lightning" and then "fastai", and each time the readout must list that
tool's rules, equal to ``analyze(sweep, **presets[tool])`` in the kernel, with every marker at
its readout LR.  The screenshot of the widget at 1280 px (light theme, rules of
torch-lr-finder) is ``docs/pytorch.png`` when ``LRWIDGET_UPDATE_SCREENSHOT=1``.  Last,
**Try these LRs** is pressed in the page (rules of fastai: four suggestions): the trials'
training curves must grow while they run, one validation dot per finished trial must end in the
strip under the chart, and in the kernel the trials must match the page and the model must be
exactly as it was before the click.

Every wait polls a state of the page; nothing depends on how fast the machine is.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.browser import jupyter_harness as harness
from tests.browser import lrw_page

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "pytorch_browser.ipynb"
NUM_IT = 100
SLEEP_PER_BATCH_S = 0.08
SCREEN_WIDTH = 1280
SCREEN_HEIGHT = 1600  # the notebook's trials add the strip and the curves under the chart

SLOWDOWN = f"""import time


class SlowLoader:
    "The same batches, each after a sleep, so the browser can watch the sweep (tests only)."

    def __init__(self, loader):
        self.loader = loader

    def __iter__(self):
        for batch in self.loader:
            time.sleep({SLEEP_PER_BATCH_S})
            yield batch

    def __len__(self):
        return len(self.loader)


train_loader = SlowLoader(train_loader)"""

SPEEDUP = "train_loader = train_loader.loader  # full speed again for the training loop"

# Kernel side: each tool's readout key (as the page's sampler writes it) for the recorded sweep.
EXPECTED_KEYS = """from lrwidget import analyze, presets

for name in presets:
    rules = analyze(w.sweep, **presets[name]).rules
    print(name, ";".join(rule + "=" + ("" if result.lr is None else repr(float(result.lr)))
                         for rule, result in rules.items()))
print("preset", w.preset)"""

# Kernel side, around the click on Try these LRs: the weights before, then the trials and
# whether the weights came back.
BEFORE_TRY = "weights_before = {k: v.clone() for k, v in model.state_dict().items()}"
AFTER_TRY = """import json

w.wait()
state = model.state_dict()
restored = state.keys() == weights_before.keys() and all(
    torch.equal(weights_before[k], v) for k, v in state.items()
)
trials = [{"lr": t.lr, "status": t.status, "valid": t.valid_loss} for t in w.trials]
suggested = sorted({rule.lr for rule in w.analysis.rules.values() if rule.lr is not None})
print(json.dumps({"restored": restored, "trials": trials, "suggested": suggested}))"""

RULES_OF = {
    "torch-lr-finder": ["gradient"],
    "lightning": ["lightning"],
    "fastai": ["minimum", "steep", "valley", "slide"],
}


def _variant_cells() -> list[str | tuple[str, str]]:
    """notebooks/pytorch.ipynb's cells, the slow loader around the sweep, a scratch cell."""
    notebook = nbformat.read(REPO / "notebooks" / "pytorch.ipynb", as_version=4)
    cells: list[str | tuple[str, str]] = []
    for cell in notebook.cells:
        source = str(cell.source)
        cells.append(source if cell.cell_type == "code" else ("markdown", source))
        tags = cell.metadata.get("tags", [])
        if "data" in tags:
            cells.append(SLOWDOWN)
        if "wait" in tags:
            cells.append(SPEEDUP)
    if SLOWDOWN not in cells or SPEEDUP not in cells:
        raise AssertionError("notebooks/pytorch.ipynb lost its 'data' or 'wait' cell tag")
    cells.append("pass  # scratch cell for the tests")
    return cells


@pytest.fixture(scope="module")
def lab(browser: Any, lab_server: harness.Server, lab_root: Path) -> Iterator[Any]:
    """The notebook variant open in its own 1280-px page (light theme) for this module."""
    harness.write_notebook(lab_root / NOTEBOOK, _variant_cells())
    context = browser.new_context(viewport={"width": SCREEN_WIDTH, "height": SCREEN_HEIGHT})
    page = context.new_page()
    try:
        yield harness.LabNotebook.open(page, lab_server, NOTEBOOK)
    finally:
        context.close()
        lab_server.shutdown_kernels()


def _rules(state: dict[str, Any]) -> list[str]:
    return [row["rule"] for row in state["rows"]]


def _rules_are(names: list[str]) -> str:
    """A JS condition over the sampler's state ``s``: the readout lists exactly ``names``."""
    return f"s.rows.map((r) => r.rule).join(',') === {','.join(names)!r}"


def _switch_rules_of(lab: harness.LabNotebook, tool: str) -> dict[str, Any]:
    """Pick ``tool`` in the page's "rules of" dropdown; wait until the readout lists its
    rules, each with an LR; return that state."""
    lab.page.locator(".lrw-preset select").first.select_option(label=tool)
    return lrw_page.wait_state(
        lab.page,
        f"{_rules_are(RULES_OF[tool])} && s.rows.every((r) => r.lr)",
        timeout_ms=30_000,
    )


def test_pytorch_notebook_streams_then_each_tools_rules_mark_the_chart(
    lab: harness.LabNotebook, tmp_path: Path
) -> None:
    page = lab.page
    key = lab.run_all()
    lab.wait_for(".lrw-figure .svg-figure")
    lrw_page.install_sampler(page)

    # Mid-sweep: dots on the chart under torch-lr-finder's rule, then more of them, still running.
    gradient = _rules_are(RULES_OF["torch-lr-finder"])
    early = lrw_page.wait_state(page, f"s.status === 'running' && s.dots > 0 && {gradient}")
    later = lrw_page.wait_state(
        page, f"s.status === 'running' && s.dots > {early['dots']} && {gradient}"
    )
    lab.wait_run(key)  # the whole notebook, w.wait() and the training loop included
    final = lrw_page.wait_finished(page)
    assert final["status"] in ("done", "diverged"), final
    assert 0 < early["dots"] < later["dots"] <= final["dots"] == final["points"] <= NUM_IT
    # Growth seen before the end: several sizes short of the final one, while running.
    running_dots = {s["dots"] for s in lrw_page.seen(page) if s["status"] == "running"}
    assert len(running_dots - {0, final["dots"]}) >= 3, (sorted(running_dots), final)
    assert "training with lr" in lab.output_text(_cell_index(lab, "lr = w.apply()"))

    # The notebook ends on torch-lr-finder's rules: gradient, drawn where the readout says.
    assert lab.page.locator(".lrw-preset select").first.input_value() == "torch-lr-finder"
    shown = lrw_page.wait_state(page, f"{gradient} && s.rows.every((r) => r.lr)")
    lrw_page.assert_markers_match(page)
    keys = {"torch-lr-finder": shown["key"]}
    _screenshot(lab, tmp_path)

    # The "rules of" dropdown, in the page: each tool's rules in the readout and on the chart.
    for tool in ("lightning", "fastai"):
        state = _switch_rules_of(lab, tool)
        assert _rules(state) == RULES_OF[tool]
        lrw_page.assert_markers_match(page)
        keys[tool] = state["key"]

    # Each readout equals that tool's preset applied to the recorded sweep, in the kernel.
    lines = lab.execute(EXPECTED_KEYS).strip().splitlines()
    expected = dict(line.split(" ", 1) for line in lines)
    assert expected.pop("preset") == "fastai"
    assert keys == expected
    _try_these_lrs(lab)


def _try_these_lrs(lab: harness.LabNotebook) -> None:
    """Press Try these LRs in the page; the curves grow, the strip gets its dots, and the
    kernel's trials match them with the model put back."""
    page = lab.page
    lab.execute(BEFORE_TRY)
    lrw_page.install_trials_sampler(page)
    page.locator(".lrw-try").first.click()
    lrw_page.wait_trials(page, "/^trial 1 of /.test(s.progress)", timeout_ms=60_000)
    ended = lrw_page.wait_trials(page, "s.status !== 'running' && s.header && s.dots.length > 0")
    facts = json.loads(lab.execute(AFTER_TRY).strip().splitlines()[-1])
    trials = facts["trials"]
    assert facts["restored"] and sorted(t["lr"] for t in trials) == facts["suggested"], facts
    assert all(trial["status"] in ("done", "diverged") for trial in trials), trials
    validated = [t for t in trials if t["valid"] is not None and math.isfinite(t["valid"])]
    assert len(ended["dots"]) == len(validated) > 0 and len(ended["curves"]) == len(trials)
    running = [s for s in lrw_page.trials_seen(page) if s["status"] == "running"]
    widths = {tuple(state["curves"]) for state in running}
    assert len(widths) >= 3, widths  # the training curves filled in while the trials ran


def _cell_index(lab: harness.LabNotebook, fragment: str) -> int:
    """Index of the first code cell whose source contains ``fragment``."""
    index = lab.page.evaluate(
        "([path, part]) => window.__lrw.panel(path).content.widgets.findIndex((cell) =>"
        " cell.model.type === 'code' && cell.model.sharedModel.getSource().includes(part))",
        [lab.path, fragment],
    )
    if index < 0:
        raise AssertionError(f"no code cell containing {fragment!r} in {lab.path}")
    return int(index)


FIGURES_LAID_OUT_JS = r"""
() => Array.from(document.querySelectorAll('.lrw-root .bqplot.figure')).every((figure) =>
  getComputedStyle(figure).display === 'none' || getComputedStyle(figure).visibility !== 'hidden')
"""


def _screenshot(lab: harness.LabNotebook, tmp_path: Path) -> None:
    """The widget at full width after the sweep, light theme; copied to docs/ on request."""
    lab.set_theme("JupyterLab Light")  # whatever an earlier test left
    root = lab.page.locator(".lrw-root").first
    root.scroll_into_view_if_needed()
    # bqplot lays out a figure that scrolled into view 300 ms later, hidden until then: the
    # notebook tried the suggestions while the widget was scrolled away.
    lab.wait_js(FIGURES_LAID_OUT_JS)
    # An element taller than the notebook's visible area would be cropped with Lab's chrome.
    widget, panel = root.bounding_box(), lab.page.locator(".jp-NotebookPanel-notebook").first
    visible = panel.bounding_box()
    assert widget is not None and visible is not None
    assert widget["height"] <= visible["height"], (widget, visible)
    path = lab.screenshot(tmp_path / "pytorch.png", ".lrw-root")
    assert lrw_page.screenshot_ok(path)
    if os.environ.get("LRWIDGET_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(path, REPO / "docs" / "pytorch.png")
