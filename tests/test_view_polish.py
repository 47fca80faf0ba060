"""Issue #17 "Looks right everywhere": the chart's y range, tick format, labels and controls'
layout, checked on the pure view (and the chart's pending changes) with no browser."""

from __future__ import annotations

import numpy as np
import pytest

from lrwidget import analyze
from lrwidget._chart import LossChart
from lrwidget._view import STREAM_MARKS, stream_view
from tests.test_view import END_LR, NUM_IT, START_LR, schedule_lrs, sweep_of, view_of


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
