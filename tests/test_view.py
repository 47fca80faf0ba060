"""lrwidget._view: what the chart shows, computed from known sweeps with no bqplot and no widget."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrwidget import Sweep, analyze
from lrwidget._boundaries import (
    boundary_function,
    boundary_lrs,
    nearest_boundary,
    nearest_boundary_index,
    schedule_boundary,
)
from lrwidget._style import RULE_COLORS, SPAN_COLORS, format_lr
from lrwidget._view import (
    STREAM_MARKS,
    ChartView,
    build_view,
    divergence_reference,
    marker_positions,
    minimum_caption,
    stream_view,
)
from lrwidget.analysis import Analysis
from tests.support.comm import CommRecorder, browser_update
from tests.support.controls import control

START_LR, END_LR, NUM_IT = 1e-7, 10.0, 100


def schedule_lrs(count: int, num_it: int = NUM_IT) -> np.ndarray:
    """fastai's exponential schedule: batch i at start_lr * (end_lr / start_lr) ** (i / num_it)."""
    return START_LR * (END_LR / START_LR) ** (np.arange(count) / num_it)


def bowl(count: int = NUM_IT) -> np.ndarray:
    """A loss that falls to its lowest point a little past the middle, then rises gently."""
    return 2.0 - 1.2 * np.sin(np.pi * 0.9 * np.linspace(0.0, 1.0, count))


def sweep_of(losses: np.ndarray, num_it: int = NUM_IT) -> Sweep:
    return Sweep.from_arrays(
        schedule_lrs(len(losses), num_it), losses, num_it, start_lr=START_LR, end_lr=END_LR
    )


def view_of(sweep: Sweep, analysis: Analysis | None, **settings: Any) -> ChartView:
    """The view the widget asks for, with every rule shown and nothing selected."""
    rules = list(analysis.rules) if analysis is not None else []
    arguments: dict[str, Any] = {
        "lrs": sweep.lrs,
        "losses": sweep.losses,
        "analysis": analysis,
        "shown": rules,
        "rule_order": rules,
        "selected_lr": None,
        "selected_color": "#708090",
        "custom_lr": None,
        "num_it": sweep.num_it,
        "start_lr": START_LR,
        "end_lr": END_LR,
        "skip_start": analysis.skip_start if analysis is not None else NUM_IT // 10,
        "skip_end": analysis.skip_end if analysis is not None else 5,
        "div_threshold": analysis.div_threshold if analysis is not None else None,
    }
    return build_view(**(arguments | settings))


def axis_fraction(lr: float) -> float:
    return math.log(lr / START_LR) / math.log(END_LR / START_LR)


def test_each_marker_sits_at_exactly_the_lr_its_rule_returns() -> None:
    sweep = sweep_of(bowl())
    analysis = analyze(sweep)
    view = view_of(sweep, analysis)

    assert dict(marker_positions(view)) == {name: rule.lr for name, rule in analysis.rules.items()}
    assert view.marker_names == tuple(analysis.rules)  # the rules' order
    np.testing.assert_array_equal(view.marker_x[:, 0], view.marker_x[:, 1])  # vertical
    # Each line rises from the bottom to its label's row (a label row is 0.055 high).
    assert np.all(view.marker_y[:, 0] == 0.0) and np.all(view.marker_y[:, 1] > 0.5)
    assert view.marker_colors == tuple(RULE_COLORS[name] for name in analysis.rules)


def test_minimum_link_runs_from_the_true_minimum_one_decade_left() -> None:
    sweep = sweep_of(bowl())
    analysis = analyze(sweep)
    minimum = analysis.rules["minimum"]
    assert minimum.point is not None
    view = view_of(sweep, analysis)
    first, stop = analysis.window
    lowest_loss = float(np.min(analysis.smoothed[first:stop]))

    assert view.link_x[0] == minimum.point[0]  # right end: the lowest smoothed loss
    assert view.link_x[1] == minimum.lr  # left end: what minimum returns
    assert math.log10(view.link_x[0] / view.link_x[1]) == pytest.approx(1.0)
    np.testing.assert_array_equal(view.link_y, [lowest_loss, lowest_loss])
    np.testing.assert_array_equal(view.minimum_label_x, [minimum.point[0]])
    np.testing.assert_array_equal(view.minimum_label_y, [lowest_loss])
    assert view.minimum_label_text == (minimum_caption(minimum.point[0], lowest_loss),)
    # Both the true minimum and the returned value are drawn as points.
    assert minimum.point[0] in view.point_x and minimum.lr in view.point_x


def test_hidden_rules_are_absent() -> None:
    sweep = sweep_of(bowl())
    analysis = analyze(sweep)
    valley = analysis.rules["valley"]
    assert valley.lr is not None and valley.point is not None
    view = view_of(sweep, analysis, shown=["valley"])

    assert dict(marker_positions(view)) == {"valley": valley.lr}
    assert view.label_text + view.label_left_text == (f"valley {format_lr(valley.lr)}",)
    np.testing.assert_array_equal(view.point_x, [valley.point[0]])
    assert view.point_colors == (RULE_COLORS["valley"],)
    # minimum is hidden, so neither its link nor its caption is drawn.
    assert view.link_x.size == 0 and view.minimum_label_text == ()


@pytest.mark.parametrize(
    ("losses", "div_threshold"),
    [
        (bowl(), None),
        (np.concatenate([bowl()[:70], np.linspace(1.0, 40.0, 20)]), 4.0),  # diverges at 84
        (np.where(np.arange(NUM_IT) == 60, np.nan, bowl()), None),  # NaN from 60 on
    ],
    ids=["skips", "diverged", "nan"],
)
def test_shading_covers_exactly_the_excluded_spans(
    losses: np.ndarray, div_threshold: float | None
) -> None:
    sweep = sweep_of(losses)
    analysis = analyze(sweep, div_threshold=div_threshold)
    view = view_of(sweep, analysis)
    count = len(sweep)
    boundaries = boundary_lrs(np.asarray(sweep.lrs, dtype=np.float64), count, START_LR, END_LR)
    spans = [span for span in analysis.excluded_spans if span[1] > span[0]]
    assert spans  # each case excludes something

    expected_x = []
    for first, stop, _ in spans:
        left, right = boundaries[first], END_LR if stop >= count else boundaries[stop]
        expected_x.append([left, right, right, left, left])
    np.testing.assert_array_equal(view.shading_x, expected_x)
    np.testing.assert_array_equal(view.shading_y, [[0.0, 0.0, 1.0, 1.0, 0.0]] * len(spans))
    assert view.shading_colors == tuple(SPAN_COLORS[label] for _, _, label in spans)
    # The skip handles name their own spans; every other span gets a label.
    named = tuple(label for _, _, label in spans if label not in ("skip start", "skip end"))
    assert view.span_label_text == named
    cut_offs = [analysis.skip_start, count - analysis.skip_end]
    np.testing.assert_array_equal(view.handle_x, boundaries[cut_offs])


def test_divergence_line_sits_at_the_threshold_times_the_lowest_loss_before_the_cut() -> None:
    sweep = sweep_of(np.concatenate([bowl()[:70], np.linspace(1.0, 40.0, 20)]))
    analysis = analyze(sweep, div_threshold=4.0)
    reference = divergence_reference(analysis)
    assert analysis.divergence_index is not None and reference is not None
    view = view_of(sweep, analysis)

    smoothed = np.asarray(analysis.smoothed, dtype=np.float64)
    assert reference == smoothed[: analysis.divergence_index].min()
    level = 4.0 * reference
    np.testing.assert_array_equal(view.divergence_y, [level, level])
    np.testing.assert_array_equal(view.divergence_x, [START_LR, END_LR])
    np.testing.assert_array_equal(view.divergence_handle_x, [sweep.lrs[-1]])
    assert view_of(sweep, analysis, div_threshold=None).divergence_y.size == 0


def test_labels_in_the_right_quarter_of_the_axis_go_to_the_left_list() -> None:
    # A loss that falls all the way: minimum (and its label) lies far right on the axis.
    sweep = sweep_of(2.0 - np.linspace(0.0, 1.0, NUM_IT))
    analysis = analyze(sweep)
    view = view_of(sweep, analysis)
    answered = {name: rule.lr for name, rule in analysis.rules.items() if rule.lr is not None}
    right_quarter = {name for name, lr in answered.items() if axis_fraction(lr) > 0.75}
    assert right_quarter and right_quarter != set(answered)  # both lists are used

    def names(texts: tuple[str, ...]) -> set[str]:
        return {text.split()[0] for text in texts}

    assert names(view.label_left_text) == right_quarter
    assert names(view.label_text) == set(answered) - right_quarter
    for lr in view.label_left_x:
        assert axis_fraction(lr) > 0.75
    # One row per rule from the top, whichever side it is drawn on (the rows' order is the
    # one that keeps marker lines out of other labels: see test_view_polish).
    texts = view.label_text + view.label_left_text
    rows = dict(zip(texts, [*view.label_y, *view.label_left_y], strict=True))
    heights = [rows[f"{name} {format_lr(lr)}"] for name, lr in answered.items()]
    assert len(set(heights)) == len(heights) and max(heights) == pytest.approx(0.965)


def test_loss_range_contains_the_analysed_windows_losses() -> None:
    sweep = sweep_of(bowl())
    analysis = analyze(sweep)
    view = view_of(sweep, analysis)
    assert view.loss_range is not None
    bottom, top = view.loss_range
    first, stop = analysis.window
    window = np.concatenate([sweep.losses[first:stop], analysis.smoothed[first:stop]])

    assert bottom < window.min() and window.max() < top
    # The data stays below the lowest row of rule labels (label heights are plot fractions).
    lowest_label = min([*view.label_y, *view.label_left_y])
    assert (window.max() - bottom) / (top - bottom) < lowest_label


def test_loss_range_keeps_the_descent_when_the_loss_blows_up_inside_the_window() -> None:
    losses = np.concatenate([bowl()[:70], np.linspace(1.0, 40.0, 30)])
    sweep = sweep_of(losses)
    analysis = analyze(sweep)  # no divergence cut: the blow-up stays in the window
    view = view_of(sweep, analysis)
    assert view.loss_range is not None
    bottom, top = view.loss_range
    first, stop = analysis.window
    smoothed = np.asarray(analysis.smoothed[first:stop], dtype=np.float64)
    turn = int(np.argmin(smoothed)) + 1
    descent = np.concatenate([sweep.losses[first : first + turn], smoothed[:turn]])

    assert bottom < descent.min() and descent.max() < top
    assert top < sweep.losses[first:stop].max()  # the blow-up alone may leave the chart


def test_stream_view_replaces_only_the_points_and_the_line_with_fresh_arrays() -> None:
    sweep = sweep_of(bowl())
    view = view_of(sweep, analyze(sweep))
    lrs, losses = schedule_lrs(120, 150), bowl(120)
    smoothed = losses * 0.5

    streamed = stream_view(view, lrs, losses, smoothed)

    replaced = {"raw_x", "raw_y", "above_x", "above_y", "smoothed_x", "smoothed_y"}
    assert {"raw", "above", "smoothed"} == STREAM_MARKS
    np.testing.assert_array_equal(streamed.raw_x, lrs)
    np.testing.assert_array_equal(streamed.raw_y, losses)
    np.testing.assert_array_equal(streamed.smoothed_x, lrs)
    np.testing.assert_array_equal(streamed.smoothed_y, smoothed)
    fresh = [streamed.raw_x, streamed.raw_y, streamed.smoothed_x, streamed.smoothed_y]
    for index, array in enumerate(fresh):
        assert array.dtype == np.float64
        for other in [lrs, losses, smoothed, *fresh[:index]]:
            assert not np.shares_memory(array, other)
    for field in dataclasses.fields(ChartView):
        if field.name not in replaced:
            assert getattr(streamed, field.name) is getattr(view, field.name), field.name


def test_build_view_never_hands_out_the_callers_arrays() -> None:
    sweep = sweep_of(bowl())
    lrs, losses = np.array(sweep.lrs, dtype=np.float64), np.array(sweep.losses, dtype=np.float64)
    view = view_of(sweep, analyze(sweep), lrs=lrs, losses=losses)
    for array in (view.raw_x, view.raw_y, view.smoothed_x):
        assert not np.shares_memory(array, lrs) and not np.shares_memory(array, losses)
    assert not np.shares_memory(view.raw_x, view.smoothed_x)


@pytest.mark.parametrize("analysed", [False, True], ids=["no-analysis", "empty-analysis"])
def test_an_empty_sweep_gives_an_empty_view(analysed: bool) -> None:
    sweep = Sweep.from_arrays([], [], NUM_IT, start_lr=START_LR, end_lr=END_LR)
    analysis = analyze(sweep) if analysed else None
    view = view_of(sweep, analysis, skip_start=10, skip_end=5)

    # Only the skip handles show, at the requested points' boundaries 10 and 100 - 5.
    boundaries = boundary_lrs(np.zeros(0), NUM_IT, START_LR, END_LR)
    np.testing.assert_array_equal(view.handle_x, [boundaries[10], boundaries[95]])
    empty = ChartView()
    for field in dataclasses.fields(ChartView):
        if field.name not in ("handle_x", "handle_y"):
            value, default = getattr(view, field.name), getattr(empty, field.name)
            if isinstance(default, np.ndarray):
                assert value.size == 0, field.name
            else:
                assert value == default, field.name


def test_selection_and_pick_are_drawn_where_asked() -> None:
    sweep = sweep_of(bowl())
    view = view_of(
        sweep, analyze(sweep), selected_lr=3e-4, selected_color="#2ca02c", custom_lr=2e-2
    )
    np.testing.assert_array_equal(view.highlight_x, [3e-4, 3e-4])
    assert view.highlight_color == "#2ca02c"
    np.testing.assert_array_equal(view.pick_x, [2e-2])
    unselected = view_of(sweep, analyze(sweep), selected_lr=float("nan"))
    assert unselected.highlight_x.size == 0 and unselected.pick_x.size == 0


def test_boundary_lrs_on_known_inputs() -> None:
    # Recorded points: the first boundary is start_lr, inner ones the geometric means, the
    # last one end_lr.
    lrs = np.array([1e-3, 1e-2, 1e-1])
    np.testing.assert_allclose(
        boundary_lrs(lrs, 3, 1e-4, 1.0), [1e-4, 10**-2.5, 10**-1.5, 1.0], rtol=1e-12
    )
    # No points yet: the schedule at i - 1/2, clipped to the range.
    np.testing.assert_allclose(
        boundary_lrs(np.zeros(0), 4, 1e-4, 1.0),
        [1e-4, 10**-3.5, 10**-2.5, 10**-1.5, 10**-0.5],
        rtol=1e-12,
    )


def test_nearest_boundary_on_known_inputs() -> None:
    boundaries = np.array([1e-4, 1e-3, 1e-2])
    assert nearest_boundary(2e-3, boundaries) == 1  # log distance: ln 2 against ln 5
    assert nearest_boundary(5e-3, boundaries) == 2
    assert nearest_boundary(1e-9, boundaries) == 0
    assert nearest_boundary(1.0, boundaries) == 2
    for unusable in (float("nan"), float("inf"), 0.0, -1e-3):
        assert nearest_boundary(unusable, boundaries) == 0
    assert nearest_boundary(1e-3, np.zeros(0)) == 0


@settings(max_examples=200, deadline=None)
@given(
    num_it=st.integers(1, 1000),
    recorded_share=st.floats(0.0, 1.0),
    start_exponent=st.integers(-9, -3),
    decades=st.integers(1, 10),
)
def test_boundary_lrs_rise_strictly_within_the_range(
    num_it: int, recorded_share: float, start_exponent: int, decades: int
) -> None:
    start_lr, end_lr = 10.0**start_exponent, 10.0 ** (start_exponent + decades)
    count = int(recorded_share * num_it)
    lrs = start_lr * (end_lr / start_lr) ** (np.arange(count) / num_it)
    extent = count if count else num_it  # as the view counts: points, or those requested

    boundaries = boundary_lrs(lrs, extent, start_lr, end_lr)

    assert len(boundaries) == extent + 1
    assert np.all(np.diff(boundaries) > 0)
    assert boundaries[0] == start_lr and boundaries[-1] <= end_lr
    assert np.all(boundaries >= start_lr)
    if count:
        assert boundaries[-1] == end_lr


@st.composite
def analysed_sweeps(draw: st.DrawFn) -> tuple[Sweep, Analysis, list[str]]:
    num_it = draw(st.integers(6, 150))
    count = draw(st.integers(1, num_it))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    losses = 2.0 + np.cumsum(rng.standard_normal(count)) * draw(st.sampled_from([0.01, 0.1, 1.0]))
    if draw(st.booleans()):
        losses[draw(st.integers(0, count - 1))] = draw(st.sampled_from([np.nan, np.inf]))
    sweep = sweep_of(losses, num_it)
    analysis = analyze(
        sweep,
        beta=draw(st.sampled_from([0.0, 0.9, 0.98])),
        skip_start=draw(st.integers(0, count)),
        skip_end=draw(st.integers(0, 6)),
        div_threshold=draw(st.sampled_from([None, 2.0, 5.0])),
    )
    shown = draw(st.lists(st.sampled_from(list(analysis.rules)), unique=True))
    return sweep, analysis, shown


@settings(max_examples=150, deadline=None)
@given(case=analysed_sweeps())
def test_markers_always_sit_at_the_shown_rules_lrs(
    case: tuple[Sweep, Analysis, list[str]],
) -> None:
    sweep, analysis, shown = case
    view = view_of(sweep, analysis, shown=shown)

    expected = {
        name: rule.lr
        for name, rule in analysis.rules.items()
        if name in shown and rule.lr is not None
    }
    assert dict(marker_positions(view)) == expected
    assert len(view.label_text) + len(view.label_left_text) == len(expected)
    if view.loss_range is not None:
        bottom, top = view.loss_range
        assert math.isfinite(bottom) and math.isfinite(top) and bottom < top


def test_schedule_boundaries_match_the_array_and_are_never_built() -> None:
    """Before the first point, boundaries come from the schedule's closed form: equal to
    boundary_lrs of an empty record, and no array sized by num_it is built."""
    expected = boundary_lrs(np.zeros(0), NUM_IT, START_LR, END_LR)
    boundary = boundary_function(np.zeros(0), NUM_IT, START_LR, END_LR)
    assert [boundary(index) for index in range(NUM_IT + 1)] == pytest.approx(
        list(expected), rel=1e-12
    )
    for index in range(NUM_IT + 1):
        lr = schedule_boundary(index, NUM_IT, START_LR, END_LR)
        assert nearest_boundary_index(lr, np.zeros(0), NUM_IT, START_LR, END_LR) == index
    huge = boundary_function(np.zeros(0), 10**7, START_LR, END_LR)  # instant: no array
    assert START_LR <= huge(10**7 // 2) <= END_LR


def long_sweep(count: int = 100_000) -> Sweep:
    """A smooth falling-then-rising loss with a spike and a NaN, on fastai's schedule."""
    lrs = START_LR * (END_LR / START_LR) ** (np.arange(count) / count)
    losses = 2.0 - np.tanh(np.log10(lrs) + 4) + 0.01 * np.sin(np.arange(count))
    losses[70_000 * count // 100_000] = 50.0  # a spike
    losses[90_000 * count // 100_000] = np.nan
    return Sweep.from_arrays(lrs, losses, num_it=count, start_lr=START_LR, end_lr=END_LR)


def long_view(sweep: Sweep, analysis: Analysis, **settings: Any) -> ChartView:
    count = len(sweep)
    arguments = {"num_it": count, "skip_start": count // 10, "skip_end": 5}
    return view_of(sweep, analysis, **(arguments | settings))


def test_long_sweeps_send_a_bounded_number_of_points() -> None:
    """The raw points and the smoothed line are reduced; markers and points stay exact."""
    from lrwidget._reduce import MAX_POINTS_PER_MARK

    sweep = long_sweep()
    analysis = analyze(sweep)
    view = long_view(sweep, analysis)
    assert len(view.raw_x) <= MAX_POINTS_PER_MARK and len(view.smoothed_x) <= MAX_POINTS_PER_MARK
    assert 50.0 in view.raw_y and np.isfinite(view.raw_y).all()  # NaN: shaded, not dotted
    assert np.isnan(view.smoothed_y).any()  # the line breaks at the NaN
    positions = marker_positions(view)
    low, high = view.loss_range or (0.0, 1.0)
    for name, result in analysis.rules.items():
        if result.lr is None or result.point is None:
            continue
        assert positions[name] == result.lr
        x, y = result.point
        assert x in view.point_x and y in view.point_y  # the rule's own dot: exact
        # The line runs through 1,000 of the curve's points: on this smooth curve, within a
        # pixel of the 420-px chart from each rule's exact point.
        before = int(np.searchsorted(view.smoothed_x, x, side="right")) - 1
        segment = view.smoothed_y[before : before + 2]
        if np.isfinite(segment).all():
            line = np.interp(np.log(x), np.log(view.smoothed_x[before : before + 2]), segment)
            assert abs(line - y) <= (high - low) / 420, (name, line, y)


@pytest.mark.parametrize("count", [500, 100_000])
def test_a_change_of_settings_moves_only_the_lines_y(count: int) -> None:
    """The line is drawn at the raw points' reduction, which no setting changes: a redraw
    for another beta, smoothing, cut-off or threshold sends the line's y alone."""
    sweep = long_sweep(count)
    first = long_view(sweep, analyze(sweep))
    changes: list[dict[str, Any]] = [
        {"beta": 0.7},
        {"beta": 0.9, "smoothing": "centred"},
        {"skip_start": count // 4, "skip_end": 40},
        {"div_threshold": 3.0},
    ]
    for chosen in changes:
        changed: dict[str, Any] = {"skip_start": count // 10} | chosen
        analysis = analyze(sweep, **changed)
        view = long_view(sweep, analysis, skip_start=changed["skip_start"])
        np.testing.assert_array_equal(view.smoothed_x, first.smoothed_x)
        np.testing.assert_array_equal(view.raw_x, first.raw_x)
        np.testing.assert_array_equal(view.raw_y, first.raw_y)
        shown = np.searchsorted(sweep.lrs, view.smoothed_x)
        np.testing.assert_array_equal(view.smoothed_y, analysis.smoothed[shown])


def test_a_memo_gives_the_view_computed_without_it() -> None:
    from lrwidget._shown_points import PointsMemo

    sweep = long_sweep(20_000)
    memo = PointsMemo()
    for beta, visible in ((0.98, None), (0.9, (1e-5, 1e-2)), (0.8, None), (0.7, (1e-5, 1e-2))):
        analysis = analyze(sweep, beta=beta, skip_start=2_000)
        memo.renew(sweep, len(sweep))
        cached = long_view(sweep, analysis, visible=visible, memo=memo)
        fresh = long_view(sweep, analysis, visible=visible)
        for field in dataclasses.fields(ChartView):
            np.testing.assert_array_equal(getattr(cached, field.name), getattr(fresh, field.name))
    # Other points (a longer sweep, another sweep): nothing kept is used for them.
    shorter = Sweep.from_arrays(sweep.lrs[:15_000], sweep.losses[:15_000], num_it=20_000)
    analysis = analyze(shorter, skip_start=2_000)
    memo.renew(shorter, len(shorter))
    cached = long_view(shorter, analysis, num_it=20_000, memo=memo)
    fresh = long_view(shorter, analysis, num_it=20_000)
    np.testing.assert_array_equal(cached.raw_x, fresh.raw_x)
    np.testing.assert_array_equal(cached.handle_x, fresh.handle_x)


def test_a_beta_drag_on_a_long_sweep_resends_the_lines_y_alone(
    comm_recorder: CommRecorder,
) -> None:
    """What a redraw sends does not grow with the sweep: at 20,000 points a new beta sends the
    readout first, the smoothed line's y (at most the cap) and no raw point, no x."""
    from lrwidget._reduce import MAX_POINTS_PER_MARK
    from lrwidget.widget import LRFinderWidget

    widget = LRFinderWidget.from_sweep(long_sweep(20_000))
    comm_recorder.clear()

    browser_update(control(widget, "lrw-beta"), value=0.9)

    sweep = widget.sweep
    assert sweep is not None
    assert widget.suggestions == analyze(sweep, beta=0.9, skip_start=2_000).suggestions
    line = comm_recorder.updates(widget._chart.smoothed)
    assert len(line) == 1 and line[0].keys == {"y"}
    assert len(line[0].state["y"]) <= MAX_POINTS_PER_MARK
    assert comm_recorder.updates(widget._chart.raw) == []
    sent = [message for message in comm_recorder.messages if message.kind == "update"]
    assert sent[0].comm_id == control(widget, "lrw-readout").comm.comm_id


def test_a_batch_that_blew_up_after_the_descent_is_pinned_not_stretching_the_range() -> None:
    """One raw loss of 16 on a curve near 2 (inside the window): the range keeps the descent
    readable and the dot is pinned to the top edge as an upward triangle."""
    losses = bowl()
    first, stop = analyze(sweep_of(losses)).window
    spike = (first + stop) // 2 + 20
    losses[spike] = 16.0
    sweep = sweep_of(losses)
    analysis = analyze(sweep)
    view = view_of(sweep, analysis)
    assert view.loss_range is not None
    bottom, top = view.loss_range
    others = np.delete(np.asarray(sweep.losses[first:stop]), spike - first)
    assert bottom < others.min() and others.max() < top < 16.0  # every other dot in range
    np.testing.assert_array_equal(view.above_x, [sweep.lrs[spike]])
    assert len(view.above_y) == 1 and bottom < view.above_y[0] < top
    assert view.above_y[0] > bottom + 0.95 * (top - bottom)  # at the top edge
    np.testing.assert_array_equal(view.raw_x, sweep.lrs)  # the dot stays in the raw mark
    # a streamed update pins the dots above the same range, and only those
    streamed = stream_view(view, sweep.lrs, sweep.losses, analysis.smoothed)
    np.testing.assert_array_equal(streamed.above_x, view.above_x)


def test_spikes_within_the_spike_share_still_stretch_the_range() -> None:
    losses = bowl()
    first, stop = analyze(sweep_of(losses)).window
    descent = losses[first:stop]
    height = float(descent[: int(np.argmin(descent)) + 1].max() - descent.min())
    spike = (first + stop) // 2 + 20
    losses[spike] = float(descent.max()) + 1.5 * height  # under SPIKE_SHARE (2) heights
    sweep = sweep_of(losses)
    view = view_of(sweep, analyze(sweep))
    assert view.loss_range is not None and losses[spike] < view.loss_range[1]
    assert len(view.above_x) == 0
