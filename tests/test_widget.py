"""LRFinderWidget without a kernel: a recording fake comm and replayed sweeps.

Controls are found by their DOM classes and driven as the browser drives them (wire messages
to ``widget._handle_msg``); assertions are on what the kernel sent: chart arrays, readout,
throttling.  No fastai: ``engine=ReplayEngine(...)`` feeds a recorded Sweep batch by batch.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from lrwidget import LRWidgetValueError, analyze
from lrwidget._stream import FULL_STREAM_INTERVAL, MAX_MESSAGES_PER_SECOND, UPDATE_INTERVAL
from lrwidget.sweep import Sweep
from lrwidget.widget import LRFinderWidget
from tests.support.comm import (
    CommRecorder,
    SentMessage,
    browser_custom,
    browser_update,
    click,
    last_point_sent,
    most_in_one_second,
    wait_until,
)
from tests.support.controls import control
from tests.support.engines import ReplayEngine, synthetic_sweep

NUM_IT = 100
START_LR, END_LR = 1e-7, 10.0
TIMEOUT = 60.0  # generous: a stuck sweep fails the test instead of hanging it


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
    rows = _rows(control(widget, "lrw-readout").value)
    assert list(rows) == ["minimum", "steep", "valley", "slide"]
    assert 'data-points="100"' in control(widget, "lrw-readout").value
    assert 'data-status="done"' in control(widget, "lrw-readout").value
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


DOM_CLASSES = (
    "lrw-run",
    "lrw-stop",
    "lrw-status",
    "lrw-progress",
    "lrw-progress-text",
    "lrw-beta",
    "lrw-smoothing",
    "lrw-skip-start",
    "lrw-skip-end",
    "lrw-div-enabled",
    "lrw-div-threshold",
    "lrw-rules",
    "lrw-selected",
    "lrw-readout",
    "lrw-figure",
)


def test_dom_classes(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    # The browser tests find every control by its class: each names exactly one widget.
    widget = LRFinderWidget.from_sweep(sweep)
    assert "lrw-root" in widget._dom_classes
    found = {name: control(widget, name) for name in DOM_CLASSES}  # raises unless exactly one
    assert len({id(item) for item in found.values()}) == len(DOM_CLASSES)
    scatters = [
        mark for mark in control(widget, "lrw-figure").marks if type(mark).__name__ == "Scatter"
    ]
    small = [mark for mark in scatters if mark.default_size < 30]
    assert small == [widget._chart.raw]
    handles = widget._chart.handles
    assert handles.enable_move and handles.restrict_x
    assert "100 / 100" in control(widget, "lrw-progress-text").value
    assert "done" in control(widget, "lrw-status").value


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
    assert any(text.startswith("lowest smoothed loss at lr") for text in chart.minimum_label.text)
    assert "minimum returns ÷10 = " in chart.minimum_label.text[0]


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
    figure_messages = len(comm_recorder.updates(control(widget, "lrw-figure")))
    opened = len(comm_recorder.opened())
    comm_recorder.clear()

    browser_update(control(widget, "lrw-beta"), value=0.9)

    assert widget.beta == 0.9
    expected = analyze(sweep, beta=0.9)
    assert widget.suggestions == expected.suggestions
    smoothed = comm_recorder.updates(widget._chart.smoothed)
    assert len(smoothed) == 1 and smoothed[0].keys == {"y"}  # x unchanged: not re-sent
    np.testing.assert_array_equal(smoothed[0].state["y"], expected.smoothed.astype(np.float64))
    assert comm_recorder.updates(widget._chart.raw) == []  # raw data unchanged
    # The figure is not rebuilt: no new widget, nothing sent to the figure itself.
    assert len(comm_recorder.opened()) == 0 and opened > 0
    assert len(comm_recorder.updates(control(widget, "lrw-figure"))) == 0 <= figure_messages
    rows = _rows(_last(comm_recorder, control(widget, "lrw-readout"))["value"])
    assert rows["valley"]["data-lr"] == repr(expected.rules["valley"].lr)


def test_every_mark_message_carries_x_and_y_together(
    comm_recorder: CommRecorder, sweep: Sweep
) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    comm_recorder.clear()
    browser_update(control(widget, "lrw-skip-start"), value=30)
    browser_update(control(widget, "lrw-rules"), index=[0, 2])
    marks = control(widget, "lrw-figure").marks
    for mark in marks:
        for message in comm_recorder.updates(mark):
            # Each mark gets at most one message per redraw, all its changes in it.
            assert message.keys, message
    per_redraw = [len(comm_recorder.updates(mark)) for mark in marks]
    assert max(per_redraw) <= 2


def test_trait_moves_control_and_suggestions(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    widget.beta = 0.9
    assert control(widget, "lrw-beta").value == 0.9
    assert _last(comm_recorder, control(widget, "lrw-beta"))["value"] == 0.9
    assert widget.suggestions == analyze(sweep, beta=0.9).suggestions
    widget.skip_start = 20
    widget.skip_end = 8
    assert (control(widget, "lrw-skip-start").value, control(widget, "lrw-skip-end").value) == (
        20,
        8,
    )
    assert widget.suggestions == analyze(sweep, beta=0.9, skip_start=20, skip_end=8).suggestions
    widget.smoothing = "centred"
    assert control(widget, "lrw-smoothing").value == "centred"
    assert widget.analysis.smoothing == "centred"  # type: ignore[union-attr]
    widget.div_threshold = 3.0
    assert (
        control(widget, "lrw-div-enabled").value is True
        and control(widget, "lrw-div-threshold").value == 3.0
    )
    assert not control(widget, "lrw-div-threshold").disabled
    widget.div_threshold = None
    assert (
        control(widget, "lrw-div-enabled").value is False
        and control(widget, "lrw-div-threshold").disabled
    )


def test_divergence_controls(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    assert widget.div_threshold is None
    browser_update(control(widget, "lrw-div-enabled"), value=True)
    assert widget.div_threshold == control(widget, "lrw-div-threshold").value
    browser_update(control(widget, "lrw-div-threshold"), value=2.5)
    assert widget.div_threshold == 2.5
    assert widget.suggestions == analyze(sweep, div_threshold=2.5).suggestions
    assert len(widget._chart.divergence_line.y) == 2
    browser_update(control(widget, "lrw-div-enabled"), value=False)
    assert widget.div_threshold is None
    assert len(widget._chart.divergence_line.y) == 0


def test_rules_shown_and_selected(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    # Selection widgets sync `index`, not `value`.
    browser_update(control(widget, "lrw-rules"), index=[2])
    assert widget.shown_rules == ["valley"]
    assert list(_rows(control(widget, "lrw-readout").value)) == ["valley"]
    assert np.asarray(widget._chart.markers.x).size == 2  # one vertical line
    # All rules are still computed: suggestions stay the engine's.
    assert widget.suggestions == analyze(sweep).suggestions
    browser_update(control(widget, "lrw-selected"), index=0)
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
    assert control(widget, "lrw-selected").value == "custom"
    np.testing.assert_allclose(widget._chart.highlight.x, [2.5e-3, 2.5e-3])
    assert "custom pick: 2.50e-03" in control(widget, "lrw-readout").value
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
    assert control(widget, "lrw-skip-start").value == widget.skip_start
    assert widget.suggestions == analyze(sweep, skip_start=widget.skip_start).suggestions
    # The kernel snapped the handle and sent the snapped position back.
    assert _last(comm_recorder, handles)["x"][0] != dragged[0]
    # The end handle: drop it 12 points before the end.
    end_target = float(np.sqrt(sweep.lrs[87] * sweep.lrs[88]))
    browser_custom(
        handles, {"event": "drag_end", "point": {"x": end_target, "y": 0.03}, "index": 1}
    )
    assert widget.skip_end == 12
    assert control(widget, "lrw-skip-end").value == 12
    # Slider -> handle.
    browser_update(control(widget, "lrw-skip-start"), value=40)
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
    assert control(widget, "lrw-run").disabled
    with pytest.raises(RuntimeError, match="no Learner"):
        widget.start()
    with pytest.raises(RuntimeError, match="needs a Learner"):
        widget.apply()


def test_apply_sets_learn_lr(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = ReplayEngine(sweep).widget()
    widget.run()
    widget.wait(TIMEOUT, chart=True)
    assert widget.apply() == widget.lr == widget.suggestions.valley
    assert widget.learn.lr == widget.lr
    widget.selected = "custom"
    with pytest.raises(LRWidgetValueError, match="custom"):
        widget.apply()


# --- streaming a replayed sweep -----------------------------------------------------------
#
# ReplayEngine (tests/support/engines.py) stands in for fastai.  Where a test must act while
# the sweep runs, or see the chart catch up before the sweep goes on, the engine holds at a
# known batch until the test releases it: no assertion depends on the machine's speed.


def _raw_messages(recorder: CommRecorder, widget: LRFinderWidget) -> list[SentMessage]:
    return recorder.updates(widget._chart.raw)


def _streamed(messages: list[SentMessage]) -> list[SentMessage]:
    """Messages sent by the sweep's update thread (the final update comes from the sweep's
    own thread, control redraws from the caller's)."""
    return [message for message in messages if message.thread == "lrwidget-update"]


def _shows(recorder: CommRecorder, widget: LRFinderWidget, source: Sweep, count: int) -> bool:
    """Whether the chart was sent the first ``count`` points of ``source`` (its last one)."""
    return last_point_sent(recorder, widget._chart.raw) == source.lrs[count - 1]


def _catch_up(recorder: CommRecorder, widget: LRFinderWidget, engine: ReplayEngine) -> None:
    """At each pause, wait until the chart shows every point recorded, then release."""
    try:
        for batch, pause in engine.pauses.items():
            assert pause.reached.wait(TIMEOUT)
            wait_until(
                lambda batch=batch: _shows(recorder, widget, engine.source, batch),
                f"the chart showing {batch} points while the sweep waits",
            )
            pause.release.set()
    finally:
        for pause in engine.pauses.values():
            pause.release.set()


def test_fast_stream_is_throttled_with_a_final_update(
    comm_recorder: CommRecorder, sweep: Sweep
) -> None:
    # 500 batches/s, held twice so that at least two streamed updates go out.
    engine = ReplayEngine(sweep, delay=0.002, pause_at=(30, 60))
    widget = engine.widget()
    comm_recorder.clear()
    began = time.perf_counter()
    widget.start()
    _catch_up(comm_recorder, widget, engine)
    widget.wait(TIMEOUT, chart=True)
    duration = time.perf_counter() - began
    assert widget.suggestions == analyze(widget.sweep).suggestions  # type: ignore[arg-type]
    raw = _raw_messages(comm_recorder, widget)
    # Never more than 20 per second, whatever the batch speed: streamed updates at least
    # UPDATE_INTERVAL apart; the final one may follow sooner if the second still has room.
    streamed = [message.time for message in _streamed(raw)]
    assert len(streamed) >= 2
    assert np.diff(streamed).min() >= UPDATE_INTERVAL * 0.95
    assert most_in_one_second([message.time for message in raw]) <= MAX_MESSAGES_PER_SECOND
    assert len(raw) <= duration / UPDATE_INTERVAL + 2
    # x and y of a mark always in one message; the final update holds every point.
    assert all(message.keys == {"x", "y"} for message in raw)
    assert len(raw[-1].state["x"]) == len(sweep) == 100
    readout = control(widget, "lrw-readout").value
    assert _rows(readout)
    assert 'data-status="done"' in readout
    assert "100 / 100" in control(widget, "lrw-progress-text").value
    assert "done" in control(widget, "lrw-status").value
    # Streaming updates come from the sweep's update thread, the final one from its worker.
    assert {message.thread for message in raw} <= {"lrwidget-sweep", "lrwidget-update"}


def test_streaming_keeps_every_second_within_the_message_budget(
    comm_recorder: CommRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 3,000 batches of about 1 ms: light updates, full ones between, and a final one that
    # must wait for room.  Every comm message counts, whatever widget it updates.  The sweep
    # holds at batch 1,000 until the chart caught up; there the test waits as long as a full
    # update is due after (FULL_STREAM_INTERVAL), so the next streamed update is a full one,
    # and at batch 2,000 until that full update was sent.
    count = 3_000
    source = synthetic_sweep(count, START_LR, END_LR)
    engine = ReplayEngine(source, delay=0.001, pause_at=(1_000, 2_000))
    widget = engine.widget()
    readout_html = control(widget, "lrw-readout")
    comm_recorder.clear()
    widget.start()
    try:
        first, second = engine.pauses[1_000], engine.pauses[2_000]
        assert first.reached.wait(TIMEOUT)
        wait_until(
            lambda: _shows(comm_recorder, widget, source, 1_000),
            "a streamed update of the first 1,000 points",
        )
        time.sleep(FULL_STREAM_INTERVAL)  # at least this long: the next update is a full one
        first.release.set()
        assert second.reached.wait(TIMEOUT)
        wait_until(
            lambda: bool(_streamed(comm_recorder.updates(readout_html))),
            "a streamed full update (with the readout)",
        )
    finally:
        for pause in engine.pauses.values():
            pause.release.set()
    widget.wait(TIMEOUT, chart=True)
    messages = comm_recorder.snapshot()
    assert most_in_one_second([message.time for message in messages]) <= MAX_MESSAGES_PER_SECOND
    # It streamed light updates (the points, the line and the bar) and full ones ...
    raw = _raw_messages(comm_recorder, widget)
    streamed_readouts = _streamed(comm_recorder.updates(readout_html))
    assert len(_streamed(raw)) > len(streamed_readouts) >= 1
    bar = comm_recorder.updates(control(widget, "lrw-progress"))
    assert len(bar) >= len(raw) - 1
    # ... and the final update reaches the last point (a series this long is sent reduced,
    # every point sent one of the sweep's), the readout and the status.
    final_x = raw[-1].state["x"]
    assert final_x[-1] == source.lrs[-1] and np.isin(final_x, source.lrs).all()
    assert f'data-points="{count}"' in readout_html.value
    assert 'data-status="done"' in readout_html.value
    assert widget.suggestions == analyze(source).suggestions
    assert "done" in control(widget, "lrw-status").value
    progress = control(widget, "lrw-progress")
    assert progress.value == count and progress.bar_style == "success"


def test_run_returns_when_the_sweep_ends_and_the_final_update_follows(
    comm_recorder: CommRecorder, sweep: Sweep
) -> None:
    # run() is start() then wait(), driven here one after the other so that the sweep can
    # hold at its first batch until start() has returned.  wait() returns when the sweep's
    # result is final; the chart's final update follows, at once or (when the last second
    # carried its share of messages) up to about a second later.  Every message sent after
    # the sweep ended is held back here until wait() has returned: it must not wait for them.
    engine = ReplayEngine(sweep, pause_at=0)
    widget = engine.widget()
    release = threading.Event()

    def hold_after_the_end(kind: str) -> None:
        if engine.finished.is_set() and threading.current_thread() is not threading.main_thread():
            release.wait(TIMEOUT)

    threads_before = set(threading.enumerate())
    comm_recorder.clear()
    comm_recorder.on_send = hold_after_the_end
    try:
        widget.start()
        engine.pauses[0].release.set()
        assert widget.wait(TIMEOUT) is widget.sweep
        assert widget.suggestions == analyze(sweep).suggestions
        assert not widget.running and widget.status == "done"
        with pytest.raises(TimeoutError):  # the final update is still held back
            widget.wait(timeout=0, chart=True)
        updaters = [
            thread
            for thread in threading.enumerate()
            if thread.name == "lrwidget-update" and thread not in threads_before
        ]
    finally:
        engine.pauses[0].release.set()
        release.set()
        comm_recorder.on_send = None
    widget.wait(TIMEOUT, chart=True)
    times = [message.time for message in comm_recorder.snapshot()]
    assert most_in_one_second(times) <= MAX_MESSAGES_PER_SECOND
    assert 'data-status="done"' in control(widget, "lrw-readout").value
    assert len(_last(comm_recorder, widget._chart.raw)["x"]) == len(sweep)
    # The sweep's update thread ended with it.
    for thread in updaters:
        thread.join(TIMEOUT)
        assert not thread.is_alive()


def test_a_throttled_point_is_sent_without_waiting_for_the_next_batch(
    comm_recorder: CommRecorder, sweep: Sweep
) -> None:
    # Bursts of fast batches (throttled), each followed by a batch that does not come until
    # released: the update thread must send the points of each burst without waiting for the
    # next batch.  (How soon, in milliseconds, is measured by benchmarks/bench_streaming.py,
    # not asserted here.)
    short = Sweep.from_arrays(
        sweep.lrs[:24], sweep.losses[:24], num_it=NUM_IT, start_lr=START_LR, end_lr=END_LR
    )
    engine = ReplayEngine(short, delay=0.001, pause_at=(6, 12, 18))
    widget = engine.widget()
    comm_recorder.clear()
    widget.start()
    _catch_up(comm_recorder, widget, engine)
    widget.wait(TIMEOUT, chart=True)
    assert _shows(comm_recorder, widget, short, 24)


def test_controls_stay_live_while_streaming(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    engine = ReplayEngine(sweep, delay=0.01, pause_at=40)
    widget = engine.widget()
    widget.start()
    pause = engine.pauses[40]
    try:
        assert pause.reached.wait(TIMEOUT)  # the sweep is running, 40 points recorded
        browser_update(control(widget, "lrw-beta"), value=0.9)
        partial = widget.analysis
        assert partial is not None and partial.sweep_length == 40
        assert widget.running and widget.status == "running"
        assert "running" in control(widget, "lrw-status").value
        # A second Run is refused, clearly, from the button and from code.
        click(control(widget, "lrw-run"))
        assert "Run refused" in control(widget, "lrw-status").value
        with pytest.raises(RuntimeError, match="Run refused"):
            widget.start()
    finally:
        pause.release.set()
    widget.wait(TIMEOUT, chart=True)
    assert widget.suggestions == analyze(widget.sweep, beta=0.9).suggestions  # type: ignore[arg-type]


def test_stop_keeps_the_points_and_run_again_starts_fresh(
    comm_recorder: CommRecorder, sweep: Sweep
) -> None:
    engine = ReplayEngine(sweep, delay=0.01, pause_at=10)
    widget = engine.widget()
    click(control(widget, "lrw-run"))
    pause = engine.pauses[10]
    try:
        assert pause.reached.wait(TIMEOUT)
        click(control(widget, "lrw-stop"))
    finally:
        pause.release.set()
    first = widget.wait(TIMEOUT, chart=True)
    # The batch in flight when Stop was pressed is kept, and no other.
    assert first is not None and first.status == "stopped" and len(first) == 11
    assert "stopped" in control(widget, "lrw-status").value
    assert f'data-points="{len(first)}"' in control(widget, "lrw-readout").value
    # Controls still work on the stopped sweep.
    browser_update(control(widget, "lrw-skip-end"), value=2)
    assert widget.analysis is not None
    engine.delay = 0.0
    widget.run()
    widget.wait(TIMEOUT, chart=True)
    assert widget.sweep is not first and len(widget.sweep) == 100  # type: ignore[arg-type]


def test_worker_exception_is_shown_and_reraised(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    widget = ReplayEngine(sweep, fail_at=30).widget()
    widget.start()
    with pytest.raises(FloatingPointError, match="exploded at batch 30"):
        widget.wait(TIMEOUT, chart=True)
    assert widget.status == "failed"
    status = control(widget, "lrw-status").value
    assert "failed" in status
    assert "FloatingPointError: loss exploded at batch 30" in status
    assert 'data-points="30"' in control(widget, "lrw-readout").value
    with pytest.raises(FloatingPointError):
        widget.wait()


def test_exception_in_a_redraw_is_not_lost(comm_recorder: CommRecorder, sweep: Sweep) -> None:
    # The final update fails after the sweep ended (here: sending it fails): wait() raises
    # it, again at every call, and the status line says so at the next redraw.  The sweep
    # holds at its first batch until start() has returned and the failure is armed.
    engine = ReplayEngine(sweep, pause_at=0)
    widget = engine.widget()

    def broken(kind: str) -> None:
        if kind == "update" and engine.finished.is_set():
            raise OverflowError("cannot draw")

    try:
        widget.start()
        comm_recorder.on_send = broken
    finally:
        engine.pauses[0].release.set()
    with pytest.raises(OverflowError, match="cannot draw"):
        widget.wait(TIMEOUT, chart=True)
    with pytest.raises(OverflowError, match="cannot draw"):
        widget.wait()
    comm_recorder.on_send = None
    widget.beta = 0.9
    status = control(widget, "lrw-status").value
    assert "error while drawing: OverflowError(&#x27;cannot draw&#x27;)" in status


def test_constructor_validates_before_anything_runs(sweep: Sweep) -> None:
    engine = ReplayEngine(sweep)
    with pytest.raises(LRWidgetValueError, match="beta"):
        engine.widget(beta=2.0)
    with pytest.raises(LRWidgetValueError, match="methods"):
        engine.widget(methods=())


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
    assert list(_rows(control(widget, "lrw-readout").value)) == ["valley", "minimum"]
