"""Try these LRs in JupyterLab, in a real Chromium: each trial sits under its rule's marker.

One notebook and one kernel serve the module: quickstart's own cells (imports, the digits
Learner, the widget and its sweep), then a cell that waits for the sweep, copies the weights and
adds a callback that sleeps after each batch, so the browser can watch the trials run.  The
module fixture presses **Try these LRs** in the page, records every distinct state of the
trials (strip dots, ring, curves, progress text) until they end, then reads the trials in the
kernel; both tests use it, so their order does not matter.

Learning rates become pixels through each figure's own x axis, read from its ticks
(:func:`tests.browser.jupyter_harness.read_log_x_axis`): the strip and the sweep chart share
the LR scale but are two figures.  With ``LRWIDGET_UPDATE_SCREENSHOT=1`` the screenshot test
also writes ``docs/trials.png``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser import jupyter_harness as harness
from tests.browser import lrw_page

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "try_quickstart.ipynb"
CHECK_CELL = 4
WIDTH, NARROW_WIDTH, HEIGHT = 1280, 620, 1800
SLEEP_PER_BATCH_S = 0.08
TOLERANCE_PX = 1.5
BEST_RGB = "rgb(212, 160, 23)"  # lrwidget._style.BEST_COLOR, as the browser computes it

PREPARE = f"""import time
from fastai.callback.core import Callback


class SlowDown(Callback):
    "Sleep after every batch so the browser can watch the trials (browser tests only)."

    def after_batch(self):
        time.sleep({SLEEP_PER_BATCH_S})


w.wait()  # the sweep, at full speed
learn.add_cb(SlowDown())
weights_before = {{k: v.detach().clone() for k, v in learn.model.state_dict().items()}}"""

CHECK = """import json

w.wait()
state = learn.model.state_dict()
print("weights restored:", state.keys() == weights_before.keys() and all(
    torch.equal(weights_before[k], v) for k, v in state.items()
))
trials = [{"lr": t.lr, "status": t.status, "valid": t.valid_loss,
           "metrics": {k: float(v) for k, v in t.metrics.items()}} for t in w.trials]
print(json.dumps({"trials": trials, "best": w.best_trial.lr, "batches": len(learn.dls.train)}))"""

# True once every figure, the plot area inside its axes included, is as wide as the widget
# (bqplot lays a figure out again some time after its width changes).
FITS_JS = r"""
() => {
  const root = document.querySelector('.lrw-root').getBoundingClientRect();
  return ['.lrw-figure', '.lrw-trials', '.lrw-trial-curves'].every((figure) => {
    const svg = document.querySelector(`${figure} svg.svg-figure`);
    const area = document.querySelector(`${figure} rect.plotarea_events`);
    if (!svg || !area) return false;
    const box = svg.getBoundingClientRect(), inside = area.getBoundingClientRect();
    return Math.abs(box.width - root.width) <= 4 && inside.right <= root.right;
  });
}
"""

# True once no bqplot toolbar shows (they fade out over 0.5 s once the pointer leaves).

PROGRESS = re.compile(
    r"^trial (?P<index>\d+) of (?P<count>\d+) · (?P<label>.+) (?P<lr>\d\.\d\de[+-]\d\d)"
    r" · batch (?P<batch>\d+) / (?P<batches>\d+)( · ETA ~\d+ s)?$"
)


@dataclass(frozen=True)
class Tried:
    """What the module fixture saw: the readout before the trials, every distinct trials
    state while they ran, and the kernel's account of them afterwards."""

    rows: list[lrw_page.ReadoutRow]
    seen: list[dict[str, Any]]
    check_output: str
    facts: dict[str, Any]

    @property
    def lrs(self) -> list[float]:
        """The LRs tried: the rows' suggestions, duplicates merged, in the readout's order."""
        return list(dict.fromkeys(row.lr for row in self.rows if row.lr is not None))

    def color_of(self, lr: float) -> str:
        """The colour of the first rule that suggested ``lr`` (its trial takes that colour)."""
        return next(row.color for row in self.rows if row.lr == lr)


@pytest.fixture(scope="module")
def lab(browser: Any, lab_server: harness.Server, lab_root: Path) -> Iterator[Any]:
    """The quickstart's sweep, finished, in one full-width page for the whole module."""
    harness.write_notebook(
        lab_root / NOTEBOOK,
        [
            lrw_page.quickstart_cell(None),
            lrw_page.quickstart_cell("learner"),
            lrw_page.quickstart_cell("widget"),
            PREPARE,
            CHECK,
            "pass  # scratch cell for the tests",
        ],
    )
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    try:
        notebook = harness.LabNotebook.open(page, lab_server, NOTEBOOK)
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # the widget gets the width
        key = notebook.run_above(CHECK_CELL)
        notebook.wait_for(".lrw-figure .svg-figure")
        notebook.wait_run(key)
        lrw_page.wait_finished(page)
        yield notebook
    finally:
        context.close()
        lab_server.shutdown_kernels()


@pytest.fixture(scope="module")
def tried(lab: harness.LabNotebook) -> Tried:
    """Press Try these LRs, record the trials running in the page, then read them in the
    kernel."""
    page = lab.page
    lrw_page.assert_markers_match(page)
    rows = lrw_page.rows(page)
    lrw_page.install_trials_sampler(page)
    page.locator(".lrw-try").first.click()
    lrw_page.wait_trials(page, "/^trial 1 of /.test(s.progress)", timeout_ms=60_000)
    lrw_page.wait_trials(page, "s.status !== 'running' && s.header && s.dots.length > 0")
    output = lab.run_cell(CHECK_CELL)  # w.wait(): the kernel's side of the end
    seen = lrw_page.trials_seen(page)
    return Tried(rows, seen, output, json.loads(output.strip().splitlines()[-1]))


def _near(found: float, wanted: float) -> bool:
    return abs(found - wanted) <= TOLERANCE_PX


def _strip_problems(page: Any, tried: Tried) -> list[str]:
    """How the strip differs from the trials: one dot per trial, in its rule's colour, at its
    LR on the strip's axis and at the pixel x of its rule's marker on the chart; one ring, on
    the best trial's dot."""
    state = lrw_page.trials_state(page)
    if not state["strip"]:
        return ["the trial strip is hidden"]
    strip = harness.read_log_x_axis(page, ".lrw-trials")
    chart = harness.read_log_x_axis(page, ".lrw-figure")
    markers = page.evaluate(lrw_page.MARKERS_JS)["vertical"]
    problems: list[str] = []
    if len(state["dots"]) != len(tried.lrs):
        problems.append(f"{len(state['dots'])} dots in the strip for {len(tried.lrs)} trials")
    for lr in tried.lrs:
        color = tried.color_of(lr)
        dots = [dot for dot in state["dots"] if dot["fill"] == color]
        lines = [line["x"] for line in markers if line["color"] == color]
        marker = [x for x in lines if _near(x, chart.to_px(lr))]
        if len(dots) != 1 or not marker:
            problems.append(f"lr {lr:.4g}: {color} dots {dots}, markers at {lines}")
            continue
        if not _near(dots[0]["x"], strip.to_px(lr)):
            problems.append(
                f"lr {lr:.4g}: dot at {dots[0]['x']:.1f}, strip axis says {strip.to_px(lr):.1f}"
            )
        if not _near(dots[0]["x"], marker[0]):
            problems.append(f"lr {lr:.4g}: dot at {dots[0]['x']:.1f}, marker at {marker[0]:.1f}")
    best = tried.facts["best"]
    rings = state["rings"]
    best_dots = [dot for dot in state["dots"] if dot["fill"] == tried.color_of(best)]
    if len(rings) != 1 or rings[0]["stroke"] != BEST_RGB or not best_dots:
        problems.append(f"rings {rings}, best trial's dot {best_dots}")
    elif not (_near(rings[0]["x"], best_dots[0]["x"]) and _near(rings[0]["y"], best_dots[0]["y"])):
        problems.append(f"ring at {rings[0]}, best trial's dot at {best_dots[0]}")
    elif max(dot["y"] for dot in state["dots"]) != best_dots[0]["y"]:
        problems.append("the ringed dot is not the lowest valid loss (lowest on screen)")
    return problems


def _assert_strip(page: Any, tried: Tried, timeout_s: float = 10.0) -> None:
    """Poll until the strip matches the trials; fail with the details."""
    deadline = time.monotonic() + timeout_s
    problems = ["not checked"]
    while time.monotonic() < deadline:
        problems = _strip_problems(page, tried)
        if not problems:
            return
        page.wait_for_timeout(harness.POLL_MS)
    raise AssertionError("the trial strip disagrees with the trials:\n" + "\n".join(problems))


def _select_best(lab: harness.LabNotebook, best_lr: float) -> dict[str, Any]:
    """Pick "best trial" in "use LR of"; wait until the chart's band is gold at its LR."""
    lrw_page.select_lr_of(lab.page, "best trial")
    axis = harness.read_log_x_axis(lab.page, ".lrw-figure")
    return lrw_page.wait_trials(
        lab.page,
        f"s.bands.length === 1 && s.bands[0].color === {BEST_RGB!r}"
        f" && Math.abs(s.bands[0].x - {axis.to_px(best_lr)}) <= {TOLERANCE_PX}",
        timeout_ms=30_000,
    )


def test_trials_run_under_their_markers_and_leave_the_learner_unchanged(
    lab: harness.LabNotebook, tried: Tried
) -> None:
    page = lab.page
    facts = tried.facts
    assert "weights restored: True" in tried.check_output, tried.check_output
    assert [trial["lr"] for trial in facts["trials"]] == tried.lrs
    assert all(trial["status"] == "done" for trial in facts["trials"]), facts["trials"]
    count = len(tried.lrs)

    # While they ran: "trial k of N · rule lr · batch b / B", for every k, the strip filling
    # in one dot per finished trial, and the running trial's training loss streaming.
    running = [s for s in tried.seen if s["status"] == "running"]
    texts = [PROGRESS.match(s["progress"]) for s in running]
    shown = [match for match in texts if match is not None]
    assert {int(match["index"]) for match in shown} == set(range(1, count + 1)), [
        s["progress"] for s in running
    ]
    for match in shown:
        lr = tried.lrs[int(match["index"]) - 1]
        assert int(match["count"]) == count and match["lr"] == f"{lr:.2e}", match.string
        assert int(match["batches"]) == facts["batches"], match.string
        assert match["label"].split(" = ")[0] == next(r.rule for r in tried.rows if r.lr == lr)
    assert {len(s["dots"]) for s in running} >= set(range(count)), [len(s["dots"]) for s in running]
    assert len({tuple(s["curves"]) for s in running if s["curvesShown"]}) >= 2 * count

    # At the end: each trial's dot sits under its rule's marker, the best is ringed.
    lrw_page.assert_markers_match(page)
    _assert_strip(page, tried)
    final = lrw_page.trials_state(page)
    assert final["curvesShown"] and len(final["curves"]) == count, final["curves"]

    # The readout's trial column says what each rule's trial reached.
    assert final["header"]
    by_lr = {trial["lr"]: trial for trial in facts["trials"]}
    for row in tried.rows:
        if row.lr is None:
            continue
        trial = by_lr[row.lr]
        wanted = f"valid {trial['valid']:.4g}" + "".join(
            f" · {name} {value:.4g}" for name, value in trial["metrics"].items()
        )
        assert final["cells"][row.rule] == wanted, (row.rule, final["cells"], wanted)
        assert "accuracy" in wanted

    # "best trial" in "use LR of": the selection band turns gold at the winner's LR, no rule
    # row stays selected, and apply() sets that LR.
    lrw_page.select_rule(page, "valley")
    chosen = _select_best(lab, facts["best"])
    assert chosen["selectedRow"] is None, chosen["selectedRow"]
    applied = lab.execute("print(w.selected, w.lr == w.best_trial.lr, w.apply() == learn.lr)")
    assert applied.strip() == "best trial True True", applied
    assert float(lab.execute("print(repr(learn.lr))").strip()) == facts["best"]


def test_trials_screenshots(lab: harness.LabNotebook, tried: Tried, tmp_path: Path) -> None:
    """Full width (docs/trials.png), then 620 px and the dark theme: the dots stay under
    their markers."""
    page = lab.page
    _select_best(lab, tried.facts["best"])
    _assert_strip(page, tried)
    shot = lrw_page.widget_screenshot(lab, tmp_path / "trials.png")
    if os.environ.get("LRWIDGET_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "trials.png")

    page.set_viewport_size({"width": NARROW_WIDTH, "height": HEIGHT})
    try:
        lab.wait_js(FITS_JS)  # bqplot lays the figures out again at the new width
        lrw_page.assert_markers_match(page)
        _assert_strip(page, tried)
        lrw_page.widget_screenshot(lab, tmp_path / "trials-narrow.png")
    finally:
        page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    try:
        lab.set_theme("JupyterLab Dark")
        lab.wait_for(".lrw-trials .svg-figure")
        _assert_strip(page, tried)
        lrw_page.widget_screenshot(lab, tmp_path / "trials-dark.png")
    finally:
        lab.set_theme("JupyterLab Light")
