"""A 100,000-point sweep in JupyterLab: the browser draws a screen's worth of it (issue #13).

One notebook cell builds a synthetic 100,000-point sweep with numpy (exponential learning
rates, a falling-then-rising noisy loss, one spike in the descent and NaN losses at the end)
and opens it with ``LRFinderWidget.from_sweep``.  In a real Chromium the test checks that the
raw dots in the DOM stay within the per-mark cap while the spike and the NaN span are still
drawn where they belong, that every marker sits at its readout value, that a slider drag
updates the readout, and that zooming in with the mouse wheel redraws the visible range in
detail from the full sweep, and zooming off brings the whole range back.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from lrwidget._reduce import MAX_POINTS_PER_MARK
from lrwidget._style import SPAN_COLORS
from tests.browser import jupyter_harness as harness
from tests.browser import lrw_page

pytestmark = pytest.mark.browser

NOTEBOOK = "long_sweep.ipynb"
FIGURE = ".lrw-figure"
COUNT = 100_000
START_LR, END_LR = 1e-7, 10.0
#: In the descent, which the loss axis always shows in full (see ``_view._loss_range``).
SPIKE_INDEX = 25_000
SPIKE_LOSS = 4.0
#: NaN losses at the end: more than the 5 skipped points, so a "NaN" span is shaded.
NAN_COUNT = 300
#: The other Scatter marks' points (rule points, handles, a ring): a handful, never thousands.
OTHER_DOTS = 20
#: Zoomed in to at most this many decades of the 8 (a few wheel notches).
ZOOMED_DECADES = 2.5
#: Dots in the zoomed range, at least (the full sweep holds ~25,000 points there).
ZOOMED_DOTS = 500

SWEEP_CELL = f"""import numpy as np
from lrwidget import LRFinderWidget, Sweep

count = {COUNT}
lrs = {START_LR} * ({END_LR} / {START_LR}) ** (np.arange(count) / count)
position = np.log10(lrs)
losses = 2.5 - 1.2 / (1 + np.exp(-2 * (position + 4))) + 0.02 * np.exp(1.2 * (position + 1))
losses += np.random.default_rng(0).normal(0, 0.05, count)
losses[{SPIKE_INDEX}] = {SPIKE_LOSS}
losses[-{NAN_COUNT}:] = np.nan
sweep = Sweep.from_arrays(lrs, losses, num_it=count, start_lr={START_LR}, end_lr={END_LR})
w = LRFinderWidget.from_sweep(sweep)
w"""

# All the path.dot elements of the chart (raw points and every other Scatter).
ALL_DOTS_JS = "() => document.querySelectorAll('.lrw-figure svg.svg-figure path.dot').length"
ZOOM_ACTIVE_JS = (
    "() => !!document.querySelector('.lrw-zoom.mod-active')"
    " && !!document.querySelector('.lrw-figure [style*=\"cursor: move\"]')"
)


def lr_at(index: float) -> float:
    """The learning rate of point ``index`` on the cell's exponential schedule."""
    return START_LR * (END_LR / START_LR) ** (index / COUNT)


def placed(dots: list[lrw_page.RawDot]) -> list[lrw_page.RawDot]:
    """The dots of finite losses.  bqplot draws a NaN loss's dot on the plot's top-left
    corner (the NaN run's two kept ends here), so the geometry leaves those out."""
    return [dot for dot in dots if dot.finite]


def dots_between(dots: list[lrw_page.RawDot], left: float, right: float) -> int:
    """How many positioned dots lie between the pixels ``left`` and ``right``."""
    return sum(1 for dot in placed(dots) if left <= dot.x <= right)


def visible_lrs(page: Any) -> tuple[float, float]:
    """The LR range the plot area shows now, read from the axis ticks."""
    axis = harness.read_log_x_axis(page, FIGURE)
    plot = harness.plot_area(page, FIGURE)
    return axis.to_value(plot["x"]), axis.to_value(plot["x"] + plot["width"])


def assert_axis_shows(page: Any, low: float, high: float) -> None:
    """The plot area's left and right edges sit at the pixels of ``low`` and ``high`` (±1 px)."""
    axis = harness.read_log_x_axis(page, FIGURE)
    plot = harness.plot_area(page, FIGURE)
    edges = (axis.to_px(low) - plot["x"], axis.to_px(high) - plot["x"] - plot["width"])
    assert all(abs(edge) <= 1.0 for edge in edges), (low, high, edges)


def assert_spike_drawn(page: Any) -> None:
    """The highest raw dot is the spike, at the pixel of its LR and loss (±1 px)."""
    x_axis = harness.read_log_x_axis(page, FIGURE)
    y_axis = harness.read_linear_y_axis(page, FIGURE)
    top = min(placed(lrw_page.raw_dot_centres(page)), key=lambda dot: dot.y)
    expected = (x_axis.to_px(lr_at(SPIKE_INDEX)), y_axis.to_px(SPIKE_LOSS))
    assert abs(top.x - expected[0]) <= 1.0 and abs(top.y - expected[1]) <= 1.0, (top, expected)


def wait_for_dots(
    page: Any, condition: Any, what: str, timeout_s: float = 30.0
) -> list[lrw_page.RawDot]:
    """Poll the raw dots until ``condition(dots, plot)`` holds; fail with the last reading."""
    deadline = page.evaluate("() => performance.now()") + timeout_s * 1000
    while True:
        dots = lrw_page.raw_dot_centres(page)
        plot = harness.plot_area(page, FIGURE)
        if condition(dots, plot):
            return dots
        if page.evaluate("() => performance.now()") > deadline:
            inside = dots_between(dots, plot["x"], plot["x"] + plot["width"])
            raise AssertionError(f"{what}: {len(dots)} raw dots, {inside} inside the plot")
        page.wait_for_timeout(harness.POLL_MS)


def zoom_in_with_the_wheel(page: Any) -> tuple[float, float]:
    """Wheel up over the middle of the plot until at most ZOOMED_DECADES show; the range."""
    plot = harness.plot_area(page, FIGURE)
    page.mouse.move(plot["x"] + plot["width"] / 2, plot["y"] + plot["height"] / 2)
    for _ in range(20):
        low, high = visible_lrs(page)
        if math.log10(high / low) <= ZOOMED_DECADES:
            return low, high
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(100)
    raise AssertionError(f"the wheel did not zoom the LR axis: it still shows {low:.3g}-{high:.3g}")


def test_a_100k_point_sweep_draws_a_screenful_and_zooms_into_detail(
    open_notebook: Any, lab_root: Any
) -> None:
    harness.write_notebook(lab_root / NOTEBOOK, [SWEEP_CELL, "pass  # scratch"])
    lab = open_notebook(NOTEBOOK)
    page = lab.page
    lab.run_cell(0)
    shown = lrw_page.wait_state(page, f"s.points === {COUNT} && s.dots > 0")

    # What the DOM holds: at most the cap of raw dots, and only a handful of other dots.
    assert shown["status"] == "done"
    assert 0 < shown["dots"] <= MAX_POINTS_PER_MARK, shown["dots"]
    assert page.evaluate(ALL_DOTS_JS) <= MAX_POINTS_PER_MARK + OTHER_DOTS
    # The spike survives the reduction, where it belongs; so does the NaN span's shading.
    assert_spike_drawn(page)
    axis = harness.read_log_x_axis(page, FIGURE)
    nan_color = page.evaluate(
        "(c) => { const e = document.createElement('span'); e.style.color = c;"
        " document.body.appendChild(e); const v = getComputedStyle(e).color; e.remove();"
        " return v; }",
        SPAN_COLORS["NaN"],
    )
    nan_spans = [span for span in lrw_page.filled_spans(page) if span["fill"] == nan_color]
    assert len(nan_spans) == 1, lrw_page.filled_spans(page)
    assert abs(nan_spans[0]["left"] - axis.to_px(lr_at(COUNT - NAN_COUNT))) <= 1.0, nan_spans
    assert abs(nan_spans[0]["right"] - axis.to_px(lr_at(COUNT - 5))) <= 1.0, nan_spans
    lrw_page.assert_markers_match(page)

    # A slider drag updates the readout, and the markers follow.
    lab.drag_slider(".lrw-beta", -40)
    dragged = lrw_page.wait_readout_change(page, shown["key"])
    assert dragged["dots"] <= MAX_POINTS_PER_MARK
    lrw_page.assert_markers_match(page)

    # Zoom: the wheel narrows the axis; once it rests the visible range is redrawn from the
    # full sweep, many more points than the whole-sweep view had there.
    full_dots = lrw_page.raw_dot_centres(page)
    page.locator(".lrw-zoom").first.click()
    lab.wait_js(ZOOM_ACTIVE_JS)
    low, high = zoom_in_with_the_wheel(page)
    before = dots_between(full_dots, axis.to_px(low), axis.to_px(high))

    def zoomed(dots: list[lrw_page.RawDot], plot: dict[str, float]) -> bool:
        inside = dots_between(dots, plot["x"], plot["x"] + plot["width"])
        # Only the two neighbours that carry the line to the edges may lie outside.
        return len(dots) - inside <= 2 and inside >= ZOOMED_DOTS

    dots = wait_for_dots(page, zoomed, "the zoomed range was not redrawn in detail")
    assert len(dots) <= MAX_POINTS_PER_MARK
    assert len(dots) > 2 * before, (len(dots), before)
    assert_axis_shows(page, low, high)  # the redraw did not move the axis

    # Zoom off: the whole sweep again, reduced, the spike back in view.
    page.locator(".lrw-zoom").first.click()
    first, last = lr_at(0), lr_at(COUNT - NAN_COUNT - 1)

    def whole(dots: list[lrw_page.RawDot], plot: dict[str, float]) -> bool:
        axis = harness.read_log_x_axis(page, FIGURE)
        xs = [dot.x for dot in placed(dots)]
        return (
            0 < len(dots) <= MAX_POINTS_PER_MARK
            and abs(min(xs) - axis.to_px(first)) <= 1.0
            and abs(max(xs) - axis.to_px(last)) <= 1.0
        )

    wait_for_dots(page, whole, "zoom off did not bring the whole sweep back")
    assert_axis_shows(page, START_LR, END_LR)
    assert_spike_drawn(page)
    lrw_page.assert_markers_match(page)
