"""LRFinderWidget without a kernel: a recording fake comm and replayed sweeps.

Controls are driven as the browser drives them (wire messages to ``widget._handle_msg``);
assertions are on what the kernel sent: chart arrays, readout, throttling.  No fastai: the
sweep engine is replaced by a replay that feeds a recorded Sweep batch by batch.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from lrwidget import analyze
from lrwidget._errors import LRWidgetValueError
from lrwidget.sweep import Sweep
from lrwidget.widget import (
    FULL_STREAM_INTERVAL,
    LIGHT_MESSAGES,
    MAX_MESSAGES_PER_SECOND,
    UPDATE_INTERVAL,
    LRFinderWidget,
)
from tests.support.comm import (
    CommRecorder,
    SentMessage,
    browser_custom,
    browser_update,
    click,
    drawn,
    most_in_one_second,
)

NUM_IT = 100
START_LR, END_LR = 1e-7, 10.0


def _curve(count: int = NUM_IT, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A typical range-test curve: flat, falling, a valley, then divergence."""
    lrs = START_LR * (END_LR / START_LR) ** (np.arange(count) / NUM_IT)
    position = np.log10(lrs)
    loss = 2.3 - 1.6 / (1 + np.exp(-2.2 * (position + 3.2))) + np.exp(5.0 * (position + 0.3))
    noise = np.random.default_rng(seed).normal(0, 0.04, count)
    return lrs, (loss + noise).astype(np.float32).astype(np.float64)


@pytest.fixture
def sweep() -> Sweep:
    lrs, losses = _curve()
    return Sweep.from_arrays(lrs, losses, num_it=NUM_IT, start_lr=START_LR, end_lr=END_LR)


def _last(recorder: CommRecorder, widget: Any) -> dict[str, Any]:
    updates = recorder.updates(widget)
    assert updates, f"nothing was sent to {type(widget).__name__}"
    return updates[-1].state


def _rows(readout: str) -> dict[str, dict[str, str]]:
    rows = {}
    for match in re.finditer(r"<tr ([^>]*data-rule=[^>]*)>", readout):
        attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', match.group(1)))
        rows[attributes["data-rule"]] = attributes
    return rows


# --- opening a sweep ------------------------------------------------------------------------


def test_from_sweep_shows_the_engine_suggestions(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    expected = analyze(sweep)
    assert widget.suggestions == expected.suggestions
    assert widget.lr == expected.rules["valley"].lr
    assert widget.status == "done"
    # Readout: one row per rule, the exact LR as repr, the marker x.
    rows = _rows(widget._readout_html.value)
    assert list(rows) == ["minimum", "steep", "valley", "slide"]
    assert 'data-points="100"' in widget._readout_html.value
    assert 'data-status="done"' in widget._readout_html.value
    for name, result in expected.rules.items():
        if result.lr is None:
            assert rows[name]["data-lr"] == ""
            continue
        assert rows[name]["data-lr"] == repr(result.lr)
        assert rows[name]["data-x"] == repr(result.lr)
    # Chart: markers at exactly the LRs, one label each, the axis fixed.
    chart = widget._chart
    answered = [name for name, result in expected.rules.items() if result.lr is not None]
    markers = np.atleast_2d(chart.markers.x)
    assert [float(row[0]) for row in markers] == [expected.rules[n].lr for n in answered]
    texts = [
        text
        for mark in (chart.labels, chart.labels_left)
        if mark.text is not None
        for text in mark.text
    ]
    for name in answered:
        assert f"{name} {expected.rules[name].lr:.2e}" in texts
    assert chart.x_scale.min == START_LR and chart.x_scale.max == END_LR
    assert chart.x_axis.tick_format == ".0e"
    np.testing.assert_array_equal(chart.raw.x, sweep.lrs)
    np.testing.assert_array_equal(chart.raw.y, sweep.losses)
    np.testing.assert_array_equal(chart.smoothed.y, expected.smoothed.astype(np.float64))


def test_dom_classes(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    classes = {
        "lrw-root": widget,
        "lrw-run": widget._run_button,
        "lrw-stop": widget._stop_button,
        "lrw-status": widget._status_html,
        "lrw-progress": widget._progress,
        "lrw-progress-text": widget._progress_html,
        "lrw-beta": widget._beta_slider,
        "lrw-smoothing": widget._smoothing_dropdown,
        "lrw-skip-start": widget._skip_start_slider,
        "lrw-skip-end": widget._skip_end_slider,
        "lrw-div-enabled": widget._div_checkbox,
        "lrw-div-threshold": widget._div_slider,
        "lrw-rules": widget._rules_select,
        "lrw-selected": widget._selected_dropdown,
        "lrw-readout": widget._readout_html,
        "lrw-figure": widget._chart.figure,
    }
    for name, control in classes.items():
        assert name in control._dom_classes, name
    scatters = [mark for mark in widget._chart.figure.marks if type(mark).__name__ == "Scatter"]
    small = [mark for mark in scatters if mark.default_size < 30]
    assert small == [widget._chart.raw]
    handles = widget._chart.handles
    assert handles.enable_move and handles.restrict_x
    assert "100 / 100" in widget._progress_html.value
    assert "done" in widget._status_html.value


def test_minimum_true_point_and_returned_point_are_linked(
    comm_recorder: CommRecorder, sweep: Sweep
) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    result = widget.analysis.rules["minimum"]  # type: ignore[union-attr]
    assert result.lr is not None and result.point is not None
    assert result.lr == result.point[0] / 10
    chart = widget._chart
    np.testing.assert_array_equal(chart.minimum_link.x, [result.point[0], result.returned_point[0]])
    # A level connector exactly one decade long, at the lowest loss.
    np.testing.assert_array_equal(chart.minimum_link.y, [result.point[1], result.point[1]])
    assert chart.minimum_link.x[1] == chart.minimum_link.x[0] / 10
    assert result.point[0] in list(chart.points.x)
    assert result.returned_point[0] in list(chart.points.x)
    assert any(text.startswith("lowest loss") for text in chart.minimum_label.text)
    assert "← ÷10" in chart.minimum_label.text[0]


def test_excluded_spans_are_shaded(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = LRFinderWidget.from_sweep(sweep, div_threshold=1.5)
    spans = [span for span in widget.analysis.excluded_spans if span[1] > span[0]]  # type: ignore[union-attr]
    shading = np.atleast_2d(widget._chart.shading.x)
    assert len(shading) == len(spans) >= 3
    # The skip handles name their own spans; the other spans carry a label.
    handle_named = {"skip start", "skip end"}
    labels = {label for _a, _b, label in spans}
    assert set(widget._chart.span_labels.text) == labels - handle_named
    assert set(widget._chart.handles.names) == handle_named <= labels


# --- controls -> analyze -> chart and readout ---------------------------------------------


def test_slider_reanalyses_and_updates_in_place(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    figure_messages = len(comm_recorder.updates(widget._chart.figure))
    opened = len(comm_recorder.opened())
    comm_recorder.clear()

    browser_update(widget._beta_slider, value=0.9)

    assert widget.beta == 0.9
    expected = analyze(sweep, beta=0.9)
    assert widget.suggestions == expected.suggestions
    smoothed = comm_recorder.updates(widget._chart.smoothed)
    assert len(smoothed) == 1 and smoothed[0].keys == {"y"}  # x unchanged: not re-sent
    np.testing.assert_array_equal(smoothed[0].state["y"], expected.smoothed.astype(np.float64))
    assert comm_recorder.updates(widget._chart.raw) == []  # raw data unchanged
    # The figure is not rebuilt: no new widget, nothing sent to the figure itself.
    assert len(comm_recorder.opened()) == 0 and opened > 0
    assert len(comm_recorder.updates(widget._chart.figure)) == 0 <= figure_messages
    rows = _rows(_last(comm_recorder, widget._readout_html)["value"])
    assert rows["valley"]["data-lr"] == repr(expected.rules["valley"].lr)


def test_every_mark_message_carries_x_and_y_together(
    comm_recorder: CommRecorder, sweep: Sweep
) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    comm_recorder.clear()
    browser_update(widget._skip_start_slider, value=30)
    browser_update(widget._rules_select, index=[0, 2])
    marks = widget._chart.figure.marks
    for mark in marks:
        for message in comm_recorder.updates(mark):
            # Each mark gets at most one message per redraw, all its changes in it.
            assert message.keys, message
    per_redraw = [len(comm_recorder.updates(mark)) for mark in marks]
    assert max(per_redraw) <= 2


def test_trait_moves_control_and_suggestions(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    widget.beta = 0.9
    assert widget._beta_slider.value == 0.9
    assert _last(comm_recorder, widget._beta_slider)["value"] == 0.9
    assert widget.suggestions == analyze(sweep, beta=0.9).suggestions
    widget.skip_start = 20
    widget.skip_end = 8
    assert (widget._skip_start_slider.value, widget._skip_end_slider.value) == (20, 8)
    assert widget.suggestions == analyze(sweep, beta=0.9, skip_start=20, skip_end=8).suggestions
    widget.smoothing = "centred"
    assert widget._smoothing_dropdown.value == "centred"
    assert widget.analysis.smoothing == "centred"  # type: ignore[union-attr]
    widget.div_threshold = 3.0
    assert widget._div_checkbox.value is True and widget._div_slider.value == 3.0
    assert not widget._div_slider.disabled
    widget.div_threshold = None
    assert widget._div_checkbox.value is False and widget._div_slider.disabled


def test_divergence_controls(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    assert widget.div_threshold is None
    browser_update(widget._div_checkbox, value=True)
    assert widget.div_threshold == widget._div_slider.value
    browser_update(widget._div_slider, value=2.5)
    assert widget.div_threshold == 2.5
    assert widget.suggestions == analyze(sweep, div_threshold=2.5).suggestions
    assert len(widget._chart.divergence_line.y) == 2
    browser_update(widget._div_checkbox, value=False)
    assert widget.div_threshold is None
    assert len(widget._chart.divergence_line.y) == 0


def test_rules_shown_and_selected(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    # Selection widgets sync `index`, not `value`.
    browser_update(widget._rules_select, index=[2])
    assert widget.shown_rules == ["valley"]
    assert list(_rows(widget._readout_html.value)) == ["valley"]
    assert np.asarray(widget._chart.markers.x).size == 2  # one vertical line
    # All rules are still computed: suggestions stay the engine's.
    assert widget.suggestions == analyze(sweep).suggestions
    browser_update(widget._selected_dropdown, index=0)
    assert widget.selected == "minimum"
    minimum = widget.analysis.rules["minimum"].lr  # type: ignore[union-attr]
    assert widget.lr == minimum
    np.testing.assert_array_equal(widget._chart.highlight.x, [minimum, minimum])


def test_click_on_chart_picks_a_custom_lr(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    # bqplot's "add" interaction appends the clicked point and syncs x and y.
    browser_update(widget._chart.pick, x=np.array([2.5e-3]), y=np.array([0.4]))
    assert widget.selected == "custom"
    assert widget.lr == pytest.approx(2.5e-3)
    assert widget._selected_dropdown.value == "custom"
    np.testing.assert_allclose(widget._chart.highlight.x, [2.5e-3, 2.5e-3])
    assert "custom pick: 2.50e-03" in widget._readout_html.value
    # A second click: the newest point wins and the kernel puts back a single marker.
    browser_update(widget._chart.pick, x=np.array([2.5e-3, 4e-2]), y=np.array([0.4, 0.5]))
    assert widget.lr == pytest.approx(4e-2)
    sent_x = [m.state["x"] for m in comm_recorder.updates(widget._chart.pick) if "x" in m.keys]
    np.testing.assert_allclose(sent_x[-1], [4e-2])


def test_dragging_cutoff_handles_moves_sliders(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    target = float(sweep.lrs[25])
    handles = widget._chart.handles
    dragged = np.array([target * 1.01, handles.x[1]])
    browser_update(handles, x=dragged)
    browser_custom(
        handles, {"event": "drag_end", "point": {"x": target * 1.01, "y": 0.03}, "index": 0}
    )
    assert widget.skip_start in (25, 26)
    assert widget._skip_start_slider.value == widget.skip_start
    assert widget.suggestions == analyze(sweep, skip_start=widget.skip_start).suggestions
    # The kernel snapped the handle and sent the snapped position back.
    assert _last(comm_recorder, handles)["x"][0] != dragged[0]
    # The end handle: drop it 12 points before the end.
    end_target = float(np.sqrt(sweep.lrs[87] * sweep.lrs[88]))
    browser_custom(
        handles, {"event": "drag_end", "point": {"x": end_target, "y": 0.03}, "index": 1}
    )
    assert widget.skip_end == 12
    assert widget._skip_end_slider.value == 12
    # Slider -> handle.
    browser_update(widget._skip_start_slider, value=40)
    assert handles.x[0] == pytest.approx(math.sqrt(sweep.lrs[39] * sweep.lrs[40]))


def test_validation_messages(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    with pytest.raises(LRWidgetValueError, match="beta"):
        widget.beta = 1.5
    assert widget.beta == 0.98
    with pytest.raises(LRWidgetValueError, match="selected"):
        widget.selected = "steepest"
    with pytest.raises(LRWidgetValueError, match="skip_end"):
        LRFinderWidget.from_sweep(sweep, skip_end=-1)
    with pytest.raises(LRWidgetValueError, match="shown_rules"):
        widget.shown_rules = ["nope"]
    with pytest.raises(TypeError, match="Sweep"):
        LRFinderWidget.from_sweep([1, 2, 3])  # type: ignore[arg-type]


def test_no_learner_refuses_run_and_apply(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    assert widget._run_button.disabled
    with pytest.raises(RuntimeError, match="no Learner"):
        widget.start()
    with pytest.raises(RuntimeError, match="needs a Learner"):
        widget.apply()


def test_apply_sets_learn_lr(comm_recorder: CommRecorder, sweep: Sweep, replay: Any) -> None:
    widget = replay.widget(sweep)
    widget.run()
    drawn(widget)
    assert widget.apply() == widget.lr == widget.suggestions.valley
    assert widget.learn.lr == widget.lr
    widget.selected = "custom"
    with pytest.raises(LRWidgetValueError, match="custom"):
        widget.apply()


# --- streaming a replayed sweep -----------------------------------------------------------


class Replay:
    """Stands in for lrwidget._fastai: feeds a recorded sweep batch by batch."""

    def __init__(self) -> None:
        self.delays: Callable[[int], float] = lambda index: 0.0
        self.source: Sweep | None = None
        self.fail_at: int | None = None
        self.batch_times: list[float] = []

    def widget(self, source: Sweep, **settings: Any) -> LRFinderWidget:
        self.source = source
        learner = SimpleNamespace(lr=1e-3)
        return LRFinderWidget(
            learner,
            start_lr=source.start_lr,
            end_lr=source.end_lr,
            num_it=source.num_it,
            **settings,
        )

    # the engine's interface ----------------------------------------------------------
    def check_arguments(self, *args: Any) -> None:
        pass

    def run_sweep(
        self,
        learn: Any,
        start_lr: float,
        end_lr: float,
        num_it: int,
        stop_div: bool,
        *,
        on_batch: Callable[[Sweep], object],
        stop: threading.Event,
        sweep: Sweep,
    ) -> Sweep:
        assert self.source is not None
        self.batch_times = []
        try:
            for index, (lr, loss) in enumerate(
                zip(self.source.lrs, self.source.losses, strict=True)
            ):
                if stop.is_set():
                    sweep.status = "stopped"
                    return sweep
                time.sleep(self.delays(index))
                if self.fail_at is not None and index == self.fail_at:
                    raise FloatingPointError(f"loss exploded at batch {index}")
                sweep.append(float(lr), float(loss))
                self.batch_times.append(time.perf_counter())
                on_batch(sweep)
        except BaseException as error:
            sweep.status, sweep.error = "failed", f"{type(error).__name__}: {error}"
            raise
        sweep.status = "done"
        return sweep


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Iterator[Replay]:
    engine = Replay()
    monkeypatch.setattr("lrwidget.widget._engine", lambda: engine)
    yield engine


def _raw_messages(recorder: CommRecorder, widget: LRFinderWidget) -> list[SentMessage]:
    return recorder.updates(widget._chart.raw)


def test_fast_stream_is_throttled_with_a_final_update(
    comm_recorder: CommRecorder, sweep: Sweep, replay: Replay
) -> None:
    replay.delays = lambda index: 0.002  # 500 batches/s
    widget = replay.widget(sweep)
    comm_recorder.clear()
    began = time.perf_counter()
    suggestions = widget.run()
    drawn(widget)
    duration = time.perf_counter() - began
    assert suggestions == analyze(widget.sweep).suggestions  # type: ignore[arg-type]
    raw = _raw_messages(comm_recorder, widget)
    # Never more than 20 per second, whatever the batch speed: streamed updates at least
    # UPDATE_INTERVAL apart; the final one may follow sooner if the second still has room.
    times = [message.time for message in raw]
    gaps = np.diff(times[:-1])
    assert len(gaps) and gaps.min() >= UPDATE_INTERVAL * 0.95, gaps.min()
    assert max(np.searchsorted(times, t + 1.0) - i for i, t in enumerate(times)) <= 20
    assert len(raw) <= duration / UPDATE_INTERVAL + 2
    # x and y of a mark always in one message; the final update holds every point.
    assert all(message.keys == {"x", "y"} for message in raw)
    assert len(raw[-1].state["x"]) == len(sweep) == 100
    assert widget.updates_sent >= len(raw)
    assert _rows(widget._readout_html.value)
    assert 'data-status="done"' in widget._readout_html.value
    assert "100 / 100" in widget._progress_html.value
    assert "done" in widget._status_html.value
    # Streaming updates come from the sweep's update thread (the final one from the worker).
    assert {message.thread for message in raw} <= {"lrwidget-sweep", "lrwidget-update"}


def test_streaming_keeps_every_second_within_the_message_budget(
    comm_recorder: CommRecorder, replay: Replay
) -> None:
    # 3,000 batches of about 1 ms: several full updates, light ones between, and a final one
    # that must wait for room.  Every comm message counts, whatever widget it updates.
    count = 3_000
    lrs = START_LR * (END_LR / START_LR) ** (np.arange(count) / count)
    position = np.log10(lrs)
    losses = 1.5 - 0.8 / (1 + np.exp(-2 * (position + 4))) + 0.05 * np.exp(2 * (position + 1))
    losses += np.random.default_rng(0).normal(0, 0.03, count)
    source = Sweep.from_arrays(lrs, losses, num_it=count, start_lr=START_LR, end_lr=END_LR)
    replay.delays = lambda index: 0.001
    widget = replay.widget(source)
    comm_recorder.clear()
    began = time.perf_counter()
    widget.run()
    drawn(widget)
    duration = time.perf_counter() - began
    messages = comm_recorder.snapshot()
    assert most_in_one_second([message.time for message in messages]) <= MAX_MESSAGES_PER_SECOND
    # It streamed (light and full updates), not only a final update ...
    raw = _raw_messages(comm_recorder, widget)
    readouts = comm_recorder.updates(widget._readout_html)
    assert len(raw) >= 2 * duration, (len(raw), duration)
    assert len(readouts) >= duration / (FULL_STREAM_INTERVAL + 1.5), (len(readouts), duration)
    # ... light updates moved only the points, the line and the bar ...
    bar = comm_recorder.updates(widget._progress)
    assert len(bar) >= len(raw) - 1
    # ... and the final update holds every point, the readout and the status.
    assert len(raw[-1].state["x"]) == count
    assert f'data-points="{count}"' in widget._readout_html.value
    assert 'data-status="done"' in widget._readout_html.value
    assert widget.suggestions == analyze(source).suggestions
    assert "done" in widget._status_html.value
    assert widget._progress.value == count and widget._progress.bar_style == "success"


def test_run_returns_when_the_sweep_ends_and_the_final_update_follows(
    comm_recorder: CommRecorder, sweep: Sweep, replay: Replay
) -> None:
    # Redrawing for the start costs a dozen messages; a sweep this short ends well within
    # the second, so the final update (another dozen) must wait for room.  run() does not
    # wait with it: its result is final when the sweep ends.
    widget = replay.widget(sweep)
    comm_recorder.clear()
    began = time.perf_counter()
    suggestions = widget.run()
    returned = time.perf_counter()
    assert suggestions == analyze(sweep).suggestions
    assert not widget.running and widget.status == "done"
    drawn(widget)
    times = [message.time for message in comm_recorder.snapshot()]
    assert times[0] < returned < times[-1]
    assert times[-1] - began < 1.5
    # The sweep's update thread ended with it.
    assert widget._update_thread is not None
    widget._update_thread.join(timeout=5)
    assert not widget._update_thread.is_alive()
    assert most_in_one_second(times) <= MAX_MESSAGES_PER_SECOND
    assert 'data-status="done"' in widget._readout_html.value
    assert len(_last(comm_recorder, widget._chart.raw)["x"]) == len(sweep)


def test_room_in_the_message_budget(replay: Replay, sweep: Sweep) -> None:
    widget = replay.widget(sweep)
    widget._sent_log.clear()
    now = time.perf_counter() + 10  # in the future: nothing ages out while the test runs
    room = widget._room_at
    assert room(MAX_MESSAGES_PER_SECOND, now) == now  # nothing sent in the last second
    widget._sent_log.extend([(now - 0.9, 12), (now - 0.5, 3), (now - 0.2, 3)])  # 18 in (now-1, now]
    assert room(2, now) == now
    assert room(LIGHT_MESSAGES, now) == pytest.approx(now + 0.101)  # once the 12 are 1 s old
    assert room(15, now) == pytest.approx(now + 0.501)  # 12 and the first 3 must age out
    assert room(25, now) == pytest.approx(now + 0.801)  # more than the budget: an empty second
    assert room(LIGHT_MESSAGES, now + 0.2) == now + 0.2  # the 12 are out of that second


def test_a_throttled_point_is_sent_without_waiting_for_the_next_batch(
    comm_recorder: CommRecorder, sweep: Sweep, replay: Replay, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bursts of fast batches (throttled) followed by slow ones: the update thread must
    # send each throttled batch without waiting for the next slow batch.  (How soon, in
    # milliseconds, is measured by benchmarks/bench_streaming.py, not asserted here: wall
    # times on a loaded CI machine are not a test.)  The message budget, which may hold an
    # update back for up to a second, is lifted here: it has its own test.
    monkeypatch.setattr("lrwidget.widget.MAX_MESSAGES_PER_SECOND", 10_000)
    short = Sweep.from_arrays(
        sweep.lrs[:24], sweep.losses[:24], num_it=NUM_IT, start_lr=START_LR, end_lr=END_LR
    )
    replay.delays = lambda index: 0.3 if index % 6 == 0 else 0.001
    widget = replay.widget(short)
    comm_recorder.clear()
    widget.run()
    drawn(widget)
    raw = [
        (message.time, len(message.state["x"])) for message in _raw_messages(comm_recorder, widget)
    ]
    times = replay.batch_times
    checked = 0
    for index, batch_time in enumerate(times):
        shown = [sent for sent, count in raw if count >= index + 1 and sent >= batch_time - 1e-3]
        assert shown, f"batch {index} never reached the chart"
        following = times[index + 1] if index + 1 < len(times) else None
        if following is not None and following - batch_time > 0.2:
            assert shown[0] < following, f"batch {index} waited for the next batch"
            checked += 1
    assert checked >= 3


def test_controls_stay_live_while_streaming(
    comm_recorder: CommRecorder, sweep: Sweep, replay: Replay
) -> None:
    replay.delays = lambda index: 0.01
    widget = replay.widget(sweep)
    widget.start()
    deadline = time.perf_counter() + 5
    while (widget.sweep is None or len(widget.sweep) < 40) and time.perf_counter() < deadline:
        time.sleep(0.005)
    browser_update(widget._beta_slider, value=0.9)
    partial = widget.analysis
    assert partial is not None and 40 <= partial.sweep_length < 100
    assert widget.running and widget.status == "running"
    assert "running" in widget._status_html.value
    # A second Run is refused, clearly, from the button and from code.
    click(widget._run_button)
    assert "already running" in widget._status_html.value
    with pytest.raises(RuntimeError, match="already running"):
        widget.start()
    widget.wait(timeout=10)
    drawn(widget)
    assert widget.suggestions == analyze(widget.sweep, beta=0.9).suggestions  # type: ignore[arg-type]


def test_stop_keeps_the_points_and_run_again_starts_fresh(
    comm_recorder: CommRecorder, sweep: Sweep, replay: Replay
) -> None:
    replay.delays = lambda index: 0.01
    widget = replay.widget(sweep)
    click(widget._run_button)
    deadline = time.perf_counter() + 5
    while (widget.sweep is None or len(widget.sweep) < 10) and time.perf_counter() < deadline:
        time.sleep(0.005)
    click(widget._stop_button)
    first = widget.wait(timeout=5)
    drawn(widget)
    assert first is not None and first.status == "stopped" and 10 <= len(first) < 100
    assert "stopped" in widget._status_html.value
    assert f'data-points="{len(first)}"' in widget._readout_html.value
    # Controls still work on the stopped sweep.
    browser_update(widget._skip_end_slider, value=2)
    assert widget.analysis is not None
    replay.delays = lambda index: 0.0
    widget.run()
    drawn(widget)
    assert widget.sweep is not first and len(widget.sweep) == 100  # type: ignore[arg-type]


def test_worker_exception_is_shown_and_reraised(
    comm_recorder: CommRecorder, sweep: Sweep, replay: Replay
) -> None:
    replay.fail_at = 30
    widget = replay.widget(sweep)
    widget.start()
    with pytest.raises(FloatingPointError, match="exploded at batch 30"):
        widget.wait(timeout=5)
    drawn(widget)
    assert widget.status == "failed"
    assert "failed" in widget._status_html.value
    assert "FloatingPointError: loss exploded at batch 30" in widget._status_html.value
    assert 'data-points="30"' in widget._readout_html.value
    with pytest.raises(FloatingPointError):
        widget.wait()


def test_exception_in_a_redraw_is_not_lost(
    comm_recorder: CommRecorder, sweep: Sweep, replay: Replay, monkeypatch: pytest.MonkeyPatch
) -> None:
    widget = replay.widget(sweep)
    calls = {"count": 0}
    original = widget._chart.send

    def broken(pending: Any) -> int:
        calls["count"] += 1
        if calls["count"] > 1:
            raise OverflowError("cannot draw")
        return original(pending)

    monkeypatch.setattr(widget._chart, "send", broken)
    # The final update fails after the sweep ended: the next wait() raises it, and the
    # status line says so at the next redraw.
    widget.run()
    drawn(widget)
    with pytest.raises(OverflowError, match="cannot draw"):
        widget.wait()
    monkeypatch.setattr(widget._chart, "send", original)
    widget.beta = 0.9
    status = widget._status_html.value
    assert "error while drawing: OverflowError(&#x27;cannot draw&#x27;)" in status


def test_constructor_validates_before_anything_runs(replay: Replay, sweep: Sweep) -> None:
    with pytest.raises(LRWidgetValueError, match="beta"):
        replay.widget(sweep, beta=2.0)
    with pytest.raises(LRWidgetValueError, match="methods"):
        replay.widget(sweep, methods=())  # type: ignore[call-arg]


def test_settings_are_passed_to_analyze(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    settings: dict[str, Any] = {
        "beta": 0.95,
        "smoothing": "centred",
        "skip_start": 5,
        "skip_end": 3,
        "div_threshold": 3.0,
    }
    widget = LRFinderWidget.from_sweep(sweep, selected="steep", **settings)
    assert widget.suggestions == analyze(sweep, **settings).suggestions
    assert widget.lr == analyze(sweep, **settings).rules["steep"].lr
    custom: Sequence[Any] = ("valley", "minimum")
    widget = LRFinderWidget.from_sweep(sweep, methods=custom)
    assert widget.suggestions == analyze(sweep, methods=custom).suggestions
    assert list(_rows(widget._readout_html.value)) == ["valley", "minimum"]
