"""Issue #17 "Looks right everywhere": the chart's y range, tick format, labels and controls'
layout, checked on the pure view (and the chart's pending changes) with no browser."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets
import numpy as np
import pytest

from lrwidget import analyze
from lrwidget._chart import LossChart
from lrwidget._controls import build_controls
from lrwidget._style import format_lr
from lrwidget._view import STREAM_MARKS, marker_positions, stream_view
from lrwidget._view_layout import (
    LABEL_GAP,
    LABEL_STEP,
    PLOT_WIDTH,
    axis_fraction,
    label_width,
    loss_tick_format,
)
from lrwidget.suggest import DEFAULT_RULES
from tests.test_view import END_LR, NUM_IT, START_LR, bowl, schedule_lrs, sweep_of, view_of


def falling(count: int) -> np.ndarray:
    """A loss that keeps falling until the 90th batch, then rises."""
    steps = np.arange(count)
    return 3.0 - 2.0 * np.minimum(steps, 90) / 90 + 0.05 * np.maximum(steps - 90, 0)


def test_a_streamed_view_lowers_the_range_to_the_new_points() -> None:
    sweep = sweep_of(falling(50))
    view = view_of(sweep, analyze(sweep))
    assert view.loss_range is not None
    lrs, losses = schedule_lrs(80), falling(80)

    streamed = stream_view(view, lrs, losses, losses.copy())

    assert streamed.loss_range is not None
    bottom, top = streamed.loss_range
    assert bottom < losses.min() and top == view.loss_range[1]
    # Points already drawn by the full view do not move it: streaming the same points again.
    again = stream_view(view, sweep.lrs, sweep.losses, np.asarray(sweep.losses))
    assert again.loss_range is view.loss_range


def test_a_light_update_sends_the_loss_scale_only_when_its_range_changes() -> None:
    sweep = sweep_of(falling(50))
    view = view_of(sweep, analyze(sweep))
    chart = LossChart(START_LR, END_LR)
    chart.send(chart.changes(view))
    lrs, losses = schedule_lrs(80), falling(80)

    lowered = chart.changes(stream_view(view, lrs, losses, losses.copy()), only=STREAM_MARKS)
    same = chart.changes(
        stream_view(view, sweep.lrs, sweep.losses, sweep.losses), only=STREAM_MARKS
    )

    assert chart.loss_scale in [widget for widget, _ in lowered]
    assert chart.loss_scale not in [widget for widget, _ in same]


@pytest.mark.parametrize("beta", [0.3, 0.98])
def test_the_range_holds_every_point_of_the_window_and_spikes_that_come_back(beta: float) -> None:
    steps = np.arange(NUM_IT)
    losses = 2.0 - 0.4 * np.minimum(steps, 50) / 50 + 0.004 * np.maximum(steps - 50, 0)
    losses[[60, 70, 80]] += 0.8  # spikes after the minimum, well past 0.3 of the descent
    sweep = sweep_of(losses)
    analysis = analyze(sweep, beta=beta)
    view = view_of(sweep, analysis)
    assert view.loss_range is not None
    bottom, top = view.loss_range
    first, stop = analysis.window
    window = np.concatenate([sweep.losses[first:stop], analysis.smoothed[first:stop]])

    assert bottom < window.min()
    # Every point, raw and smoothed, stays below the lowest row of rule labels.
    lowest_label = min([*view.label_y, *view.label_left_y])
    assert (window.max() - bottom) / (top - bottom) < lowest_label


def d3_ticks(low: float, high: float, count: int = 10) -> list[float]:
    """d3's linear ticks (what bqplot's axis draws): a 1, 2 or 5 step near span / count."""
    rough = (high - low) / count
    power = 10.0 ** np.floor(np.log10(rough))
    error = rough / power
    step = power * (
        10
        if error >= np.sqrt(50)
        else 5
        if error >= np.sqrt(10)
        else 2
        if error >= np.sqrt(2)
        else 1
    )
    return [
        index * step for index in range(int(np.ceil(low / step)), int(np.floor(high / step)) + 1)
    ]


@pytest.mark.parametrize(
    "loss_range",
    [(2.30, 2.36), (2.3, 2.31), (0.0, 250.0), (1e-4, 3e-4), (-1.5, 4.0), (1.0, 1.0009)],
)
def test_the_loss_ticks_never_repeat_a_label(loss_range: tuple[float, float]) -> None:
    tick_format = loss_tick_format(loss_range)
    texts = [format(tick, tick_format) for tick in d3_ticks(*loss_range)]
    assert len(texts) >= 2 and len(set(texts)) == len(texts), texts


def test_the_chart_sends_the_views_tick_format_with_its_range() -> None:
    losses = 2.33 - 0.02 * np.sin(np.pi * np.linspace(0.0, 1.0, NUM_IT))  # a narrow range
    sweep = sweep_of(losses)
    view = view_of(sweep, analyze(sweep))
    assert view.loss_range is not None
    chart = LossChart(START_LR, END_LR)
    chart.send(chart.changes(view))

    ticks = [format(tick, chart.y_axis.tick_format) for tick in d3_ticks(*view.loss_range)]
    assert len(set(ticks)) == len(ticks), ticks
    assert chart.changes(view) == []


def test_a_minimum_below_the_axis_is_drawn_at_its_start_with_an_arrow_and_its_value() -> None:
    # A loss that only rises: the lowest point is the window's first, ÷10 lies off the axis.
    sweep = sweep_of(1.0 + np.linspace(0.0, 1.0, NUM_IT))
    analysis = analyze(sweep)
    minimum = analysis.rules["minimum"].lr
    assert minimum is not None and minimum < START_LR
    view = view_of(sweep, analysis)

    row = view.marker_names.index("minimum")
    np.testing.assert_array_equal(view.marker_x[row], [START_LR, START_LR])
    assert marker_positions(view)["minimum"] == minimum  # the readout still gets its LR
    text = f"← minimum {format_lr(minimum)}"
    assert text in view.label_text  # drawn right of the axis' start, never clipped
    assert view.label_x[view.label_text.index(text)] >= START_LR
    drawn = [*view.marker_x.ravel(), *view.label_x, *view.label_left_x, *view.point_x]
    assert all(START_LR <= x <= END_LR for x in [*drawn, *view.link_x])


def rule_at(name: str, index: int) -> Callable[..., tuple[float, tuple[float, float]]]:
    """A custom rule named ``name`` that points at the ``index``-th batch."""

    def rule(lrs: np.ndarray, losses: np.ndarray, num_it: int) -> tuple[float, tuple[float, float]]:
        return float(lrs[index]), (float(lrs[index]), float(losses[index]))

    rule.__name__ = name
    return rule


def test_seven_labels_at_620_px_are_crossed_by_no_marker_line_and_stay_in_the_plot() -> None:
    sweep = sweep_of(bowl())
    custom = [
        rule_at("cautious_half_of_valley", 35),  # just left of slide and valley
        rule_at("my_teams_rule_of_thumb", 62),  # just left of minimum
        rule_at("edge_of_stability_guess", 84),  # near the right edge
    ]
    analysis = analyze(sweep, methods=(*DEFAULT_RULES, *custom))
    view = view_of(sweep, analysis)
    assert len(view.marker_names) == 7

    def pixel(lr: float) -> float:
        return axis_fraction(lr, START_LR, END_LR) * PLOT_WIDTH

    # Each marker line: its x in pixels and how high it rises (a fraction of the plot).
    lines = {
        name: (pixel(x), top)
        for name, x, top in zip(
            view.marker_names, view.marker_x[:, 0], view.marker_y[:, 1], strict=True
        )
    }
    boxes = {}  # rule name -> the left, right (pixels) and bottom (fraction) of its label
    for texts, xs, ys, side in (
        (view.label_text, view.label_x, view.label_y, 1),
        (view.label_left_text, view.label_left_x, view.label_left_y, -1),
    ):
        for text, x, y in zip(texts, xs, ys, strict=True):
            name, width = text.split()[0], label_width(text)
            anchor = pixel(x) + side * LABEL_GAP
            left, right = (anchor, anchor + width) if side == 1 else (anchor - width, anchor)
            boxes[name] = (left, right, y - LABEL_STEP / 2)
    assert set(boxes) == set(lines)
    for name, (left, right, bottom) in boxes.items():
        assert left >= -1e-6 and right <= PLOT_WIDTH + 1e-6, (name, left, right)
        crossing = [
            other
            for other, (line, top) in lines.items()
            if other != name and left <= line <= right and top > bottom
        ]
        assert crossing == [], (name, crossing)


def test_the_controls_reflow_in_a_narrow_output_area() -> None:
    controls = build_controls(["minimum", "steep", "valley", "slide"], NUM_IT, has_learner=True)
    figure = widgets.Box()
    rows = controls.rows(figure)

    boxes = [row for row in rows if isinstance(row, widgets.HBox)]
    assert len(boxes) == 6
    for box in boxes:
        assert box.layout.flex_flow == "row wrap"  # wraps instead of squeezing its controls
    sliders = [controls.beta_slider, controls.skip_start_slider, controls.skip_end_slider]
    for slider in [*sliders, controls.div_slider]:
        assert slider.layout.min_width == "260px" and slider.layout.flex == "1 1 260px"
    dropdowns = [controls.smoothing_dropdown, controls.selected_dropdown, controls.preset_dropdown]
    for dropdown in [*dropdowns, controls.rules_select]:
        assert dropdown.layout.max_width == "100%"
    readout_box = rows[-1]
    assert readout_box.children == (controls.readout_html,)
    assert readout_box.layout.overflow == "auto hidden"  # scrolls sideways in its box
    assert readout_box.layout.max_width == "100%"
    assert controls.readout_html.layout.min_width == "560px"  # the table scrolls, not wraps
    # Every control is still shown once, and the figure in its place.
    assert rows.count(figure) == 1
    shown = [figure, *(child for row in rows if row is not figure for child in row.children)]
    assert sorted(map(id, shown)) == sorted(map(id, [*controls.all(), figure]))
