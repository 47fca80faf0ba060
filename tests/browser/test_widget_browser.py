"""LRFinderWidget in JupyterLab, in a real Chromium.

One notebook (built from ``notebooks/quickstart.ipynb``'s own cells, plus a callback that
sleeps after each batch so a sweep lasts ~10 s) and one kernel serve the whole module, in
order: watch the sweep stream and drag a slider mid-sweep; then drag every control and a chart
handle on the finished sweep, checking that each marker sits at its readout value; then the
light and dark screenshots; then Run again and Stop mid-sweep.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import jupyter_harness as harness
from tests.browser import lrw_page

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NUM_IT = 100
SLEEP_PER_BATCH_S = 0.08
NOTEBOOK = "slow_quickstart.ipynb"
CHECK_CELL = 4

SLOWDOWN = f"""import time
from fastai.callback.core import Callback


class SlowDown(Callback):
    "Sleep after every batch so the browser can watch the sweep (browser tests only)."

    def after_batch(self):
        time.sleep({SLEEP_PER_BATCH_S})


learn.add_cb(SlowDown())
weights_before = {{k: v.detach().clone() for k, v in learn.model.state_dict().items()}}"""

CHECK = """w.wait()
print("weights restored:", all(
    torch.equal(weights_before[k], v) for k, v in learn.model.state_dict().items()
))"""


# Kernel side: for each (points, key) the browser showed, does it equal analyze() of the first
# `points` points with the widget's beta now, and with fastai's 0.98?
VERIFY = """from lrwidget import Sweep, analyze


def readout_key(points, beta):
    part = Sweep.from_arrays(w.sweep.lrs[:points], w.sweep.losses[:points], num_it=w.num_it,
                             start_lr=w.start_lr, end_lr=w.end_lr, status="running")
    rules = analyze(part, beta=beta, skip_start=w.skip_start, skip_end=w.skip_end,
                    methods=w.methods).rules
    return ";".join(name + "=" + ("" if r.lr is None else repr(float(r.lr)))
                    for name, r in rules.items())


for points, key in {states!r}:
    print(f"{{readout_key(points, w.beta) == key}},{{readout_key(points, 0.98) == key}}")"""


@pytest.fixture(scope="module")
def lab(browser: Any, lab_server: harness.Server, lab_root: Path) -> Iterator[Any]:
    """The slow quickstart variant open in one page for the whole module."""
    harness.write_notebook(
        lab_root / NOTEBOOK,
        [
            lrw_page.quickstart_cell(None),
            lrw_page.quickstart_cell("learner"),
            SLOWDOWN,
            lrw_page.quickstart_cell("widget"),
            CHECK,
            "pass  # scratch cell for the tests",
        ],
    )
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    try:
        yield harness.LabNotebook.open(page, lab_server, NOTEBOOK)
    finally:
        context.close()
        lab_server.shutdown_kernels()


def _kernel_value(lab: harness.LabNotebook, expression: str) -> str:
    return lab.execute(f"print(repr({expression}))").strip()


def test_chart_streams_and_a_slider_works_during_the_sweep(lab: harness.LabNotebook) -> None:
    page = lab.page
    key = lab.run_above(CHECK_CELL)
    lab.wait_for(".lrw-figure .svg-figure")
    lrw_page.install_sampler(page)
    lab.wait_run(key)  # the widget cell returns at once: the sweep runs in the background
    lrw_page.wait_state(page, "s.status === 'running' && s.points >= 20 && s.points <= 60")

    # Mid-sweep: drag the EMA beta slider; the readout must follow before the sweep ends.
    lab.drag_slider(".lrw-beta", -40)
    dragged_at = page.evaluate("() => performance.now()")
    shown_beta = float(lrw_page.slider_readout(page, ".lrw-beta"))
    assert shown_beta < 0.9
    # The slider's last value reaches the kernel after the drag's earlier ones; each of those
    # redraws first, so ask until it has arrived (a value that never arrives fails here).
    deadline = time.monotonic() + 20
    kernel_beta = float(_kernel_value(lab, "w.beta"))
    while abs(kernel_beta - shown_beta) >= 1e-6 and time.monotonic() < deadline:
        time.sleep(0.2)
        kernel_beta = float(_kernel_value(lab, "w.beta"))
    assert abs(kernel_beta - shown_beta) < 1e-6
    final = lrw_page.wait_finished(page)
    # Every readout state shown after the drag while still running, checked in the kernel:
    # some must equal analyze(first n points) with the new beta, and differ from beta 0.98.
    after_drag = [
        (s["points"], s["key"])
        for s in lrw_page.seen(page)
        if s["status"] == "running" and s["t"] > dragged_at and s["points"] > 0
    ]
    assert after_drag, "the readout never changed between the drag and the end of the sweep"
    verdict = lab.execute(VERIFY.format(states=after_drag)).split()
    assert "True,False" in verdict, (verdict, after_drag)

    assert final["status"] in ("done", "diverged")
    history = lrw_page.seen(page)
    running_points = sorted(
        {s["points"] for s in history if s["status"] == "running" and 0 < s["points"] < NUM_IT}
    )
    running_dots = sorted(
        {s["dots"] for s in history if s["status"] == "running" and 0 < s["dots"] < NUM_IT}
    )
    # Streaming: many intermediate sizes were drawn, in the readout and as raw dots.
    assert len(running_points) >= 5, running_points
    assert len(running_dots) >= 5, running_dots
    assert final["dots"] == final["points"] > 0
    assert lab.text(".lrw-progress-text").startswith(f"{final['points']} / {NUM_IT}")
    assert final["status"] in lab.text(".lrw-status")


def _wait_readout_of_kernel(lab: harness.LabNotebook, settled: str) -> dict[str, Any]:
    """Once ``settled`` holds in the kernel, wait until the page's readout shows the kernel's
    suggestions, and return that state."""
    deadline = time.monotonic() + 30
    while _kernel_value(lab, settled) != "True":
        assert time.monotonic() < deadline, f"the kernel never reached {settled}"
        time.sleep(0.2)
    expected = _kernel_value(
        lab,
        "';'.join(f'{n}=' + ('' if r.lr is None else repr(r.lr)) "
        "for n, r in w.analysis.rules.items() if n in w.shown_rules)",
    ).strip("'\"")
    while True:
        state = lrw_page.state(lab.page)
        if state is not None and state["key"] == expected:
            return state
        assert time.monotonic() < deadline, (state, expected)
        time.sleep(0.2)


def test_controls_and_chart_handles_move_markers_to_the_readout(
    lab: harness.LabNotebook,
) -> None:
    page = lab.page
    lrw_page.wait_finished(page)
    lrw_page.assert_markers_match(page)

    # EMA beta.
    before = lrw_page.state(page)
    assert before is not None
    lab.drag_slider(".lrw-beta", 25)
    after = lrw_page.wait_readout_change(page, before["key"])
    lrw_page.assert_markers_match(page)

    # Smoothing selector: EMA -> centred.
    page.locator(".lrw-smoothing select").select_option(label="centred (zero-lag)")
    after = lrw_page.wait_readout_change(page, after["key"])
    lrw_page.assert_markers_match(page)
    page.locator(".lrw-smoothing select").select_option(label="EMA (fastai)")
    # Back to a curve shown before: wait for the readout the kernel computes for it (its
    # suggestions may equal an earlier state's, so "changed" is not the right question).
    after = _wait_readout_of_kernel(lab, "w.smoothing == 'ema'")

    # skip start past the valley point: the valley must move.
    lrw_page.drag_slider_to(page, ".lrw-skip-start", 0.7)
    after = lrw_page.wait_readout_change(page, after["key"])
    assert int(lrw_page.slider_readout(page, ".lrw-skip-start")) >= 60
    lrw_page.assert_markers_match(page)
    lrw_page.drag_slider_to(page, ".lrw-skip-start", 0.1)
    after = lrw_page.wait_readout_change(page, after["key"])

    # skip end into the dip: the minimum must move.
    lrw_page.drag_slider_to(page, ".lrw-skip-end", 0.3)
    after = lrw_page.wait_readout_change(page, after["key"])
    assert int(lrw_page.slider_readout(page, ".lrw-skip-end")) >= 20
    lrw_page.assert_markers_match(page)

    # Drag the chart's skip-start handle (a ▲ under the curve) to lr = 3e-3.
    handle = page.evaluate(
        r"""() => {
          const group = document.querySelector('.lrw-figure svg.svg-figure > g > g');
          for (const mark of group.children) {
            const dots = mark.querySelectorAll('path.dot');
            const names = Array.from(mark.querySelectorAll('text')).map((t) => t.textContent);
            if (dots.length === 2 && names.includes('skip start')) {
              const r = dots[0].getBoundingClientRect();
              return {x: r.x + r.width / 2, y: r.y + r.height / 2};
            }
          }
          return null;
        }"""
    )
    assert handle is not None, "no skip-start handle on the chart"
    axis = harness.read_log_x_axis(page, ".lrw-figure")
    start_before = int(lrw_page.slider_readout(page, ".lrw-skip-start"))
    harness.drag(page, handle["x"], handle["y"], axis.to_px(3e-3) - handle["x"], 0, steps=12)
    after = lrw_page.wait_readout_change(page, after["key"])
    moved_to = int(
        lab.wait_js(
            "(old) => { const e = document.querySelector('.lrw-skip-start .widget-readout');"
            " const v = e && Number(e.textContent); return v !== old && v; }",
            start_before,
        )
    )
    expected_index = NUM_IT * math.log(3e-3 / 1e-7) / math.log(10 / 1e-7)
    assert abs(moved_to - expected_index) <= 2, (moved_to, expected_index)
    lrw_page.assert_markers_match(page)
    assert _kernel_value(lab, "w.skip_start") == str(moved_to)


def test_light_and_dark_screenshots(lab: harness.LabNotebook, tmp_path: Path) -> None:
    page = lab.page
    lab.execute("w.beta, w.smoothing, w.skip_start, w.skip_end = 0.98, 'ema', 10, 5")
    lrw_page.wait_state(page, "['done', 'diverged'].includes(s.status)")
    lab.wait_js(
        "() => { const e = document.querySelector('.lrw-skip-start .widget-readout');"
        " return e && e.textContent.trim() === '10'; }"
    )
    lrw_page.assert_markers_match(page)
    page.locator(".lrw-root").first.scroll_into_view_if_needed()
    light = lab.screenshot(tmp_path / "widget-light.png", ".lrw-root")
    assert lrw_page.screenshot_ok(light)
    if os.environ.get("LRWIDGET_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(light, REPO / "docs" / "widget.png")

    try:
        lab.set_theme("JupyterLab Dark")
        lab.wait_for(".lrw-figure .svg-figure")
        background = page.evaluate(
            "() => getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor"
        )
        dark = lab.screenshot(tmp_path / "widget-dark.png", ".lrw-root")
        assert lrw_page.screenshot_ok(dark)
        figure_box = page.locator(".lrw-figure").first.bounding_box()
        assert figure_box is not None and figure_box["width"] > 300 and figure_box["height"] > 200
        # bqplot follows the theme: axis labels are drawn light on the dark background.
        tick_fill = page.evaluate(
            "() => getComputedStyle(document.querySelector('.lrw-figure g.tick text')).fill"
        )
        channels = [int(c) for c in tick_fill[tick_fill.index("(") + 1 : -1].split(",")[:3]]
        assert sum(channels) / 3 > 128, (tick_fill, background)
        lrw_page.assert_markers_match(page)
    finally:
        lab.set_theme("JupyterLab Light")


def test_stop_mid_sweep_keeps_points_and_restores_weights(lab: harness.LabNotebook) -> None:
    page = lab.page
    lrw_page.wait_finished(page)
    page.locator(".lrw-run").first.click()
    lrw_page.wait_state(page, "s.status === 'running' && s.points >= 15")
    page.locator(".lrw-stop").first.click()
    stopped = lrw_page.wait_state(page, "s.status === 'stopped'", timeout_ms=30_000)
    assert 0 < stopped["points"] < NUM_IT
    assert "stopped" in lab.text(".lrw-status")
    # The points stay on the chart and in the readout.
    assert stopped["dots"] == stopped["points"]
    lrw_page.assert_markers_match(page)
    assert "weights restored: True" in lab.run_cell(CHECK_CELL)
