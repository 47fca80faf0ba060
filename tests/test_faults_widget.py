"""The widget half of the fault matrix: LRFinderWidget's background sweep, however it ends.

For every ending — finished, diverged, Stop (from code and as a browser click) at the first,
a middle and the last batch, KeyboardInterrupt / CUDA-style out-of-memory in the forward, an
exception in the loss, NaN from the first batch or mid-sweep, inf loss, a user's callback that
raises — the Learner is bit-for-bit as it was, the points recorded so far are kept and shown
with the right status (what the fake comm last sent to the browser, not only the Python
state), the original exception object reaches ``wait()`` and no file is written.

Then concurrency and load: a second start refused, ``learn.fit`` from other threads refused
while the sweep completes correctly, two widgets sweeping at once, and a 10,000-batch stream
with a bounded message rate and live controls.

The fault-injecting models/losses/callbacks and the bit-exact snapshot come from
``tests.support.faults`` and ``tests.support.learners``, shared with the adapter's half of
the matrix (``tests/test_faults.py``).
"""

from __future__ import annotations

import html
import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lrwidget import LRWidgetValueError, SweepRunningError, run_sweep
from lrwidget._stream import UPDATE_INTERVAL
from lrwidget.analysis import analyze
from lrwidget.sweep import Sweep
from lrwidget.widget import LRFinderWidget
from tests.support.comm import (
    CommRecorder,
    browser_update,
    click,
    last_point_sent,
    last_sent,
    most_in_one_second,
    wait_until,
)
from tests.support.controls import control
from tests.support.engines import ReplayEngine, synthetic_sweep
from tests.support.faults import (
    NUM_IT,
    Arm,
    PauseAt,
    arm_diverged,
    arm_finished,
    arm_inf_loss,
    arm_learner_callback_raises,
    arm_loss_raises,
    arm_model_raises,
    arm_nan_from,
    fault_setup,
    file_listing,
)
from tests.support.learners import BUILDERS, assert_unchanged, user_state

pytestmark = pytest.mark.fastai

START_LR, END_LR = 1e-4, 1.0
TIMEOUT = 60.0  # generous: a stuck worker fails the test instead of hanging it


def _widget(learn: Any, **settings: Any) -> LRFinderWidget:
    return LRFinderWidget(learn, start_lr=START_LR, end_lr=END_LR, num_it=NUM_IT, **settings)


def _last_sent(recorder: CommRecorder, widget: Any, key: str = "value") -> Any:
    """The last value of ``key`` the browser received for ``widget`` (open or update)."""
    value = last_sent(recorder, widget, key)
    assert value is not None, f"{key!r} was never sent for {type(widget).__name__}"
    return value


def _readout_attributes(readout: str) -> tuple[int, str]:
    found = re.search(r'data-points="(\d+)" data-status="(\w+)"', readout)
    assert found is not None, readout
    return int(found.group(1)), found.group(2)


def _rule_lr(readout: str, rule: str) -> float | None:
    found = re.search(rf'data-rule="{rule}" data-lr="([^"]*)"', readout)
    assert found is not None, readout
    return float(found.group(1)) if found.group(1) else None


def _schedule(points: int, num_it: int = NUM_IT) -> list[float]:
    return [START_LR * (END_LR / START_LR) ** (i / num_it) for i in range(points)]


def _expected_suggestions(sweep: Sweep) -> Any:
    try:
        return analyze(sweep, methods=("minimum", "steep", "valley", "slide")).suggestions
    except LRWidgetValueError:  # too few points for the default cut-offs: nothing to suggest
        return None


def _assert_shown(recorder: CommRecorder, widget: LRFinderWidget, status: str, points: int) -> None:
    """What the browser was last sent matches the kept sweep: status, points, chart."""
    sweep = widget.sweep
    assert sweep is not None
    status_html = _last_sent(recorder, control(widget, "lrw-status"))
    assert status_html == control(widget, "lrw-status").value  # the browser is not left stale
    assert f'data-status="{status}"' in status_html, status_html
    if status == "failed":
        assert sweep.error is not None and html.escape(sweep.error) in status_html
    readout = _last_sent(recorder, control(widget, "lrw-readout"))
    assert readout == control(widget, "lrw-readout").value
    assert _readout_attributes(readout) == (points, status)
    # Every finite loss is a dot (a NaN or inf one is shown by the shaded span instead).
    finite = np.isfinite(sweep.losses)
    np.testing.assert_array_equal(_last_sent(recorder, widget._chart.raw, "x"), sweep.lrs[finite])
    np.testing.assert_array_equal(
        _last_sent(recorder, widget._chart.raw, "y"), sweep.losses[finite]
    )
    assert _last_sent(recorder, control(widget, "lrw-progress")) == points
    bar_style = {"done": "success", "diverged": "warning", "stopped": "info", "failed": "danger"}
    # green only when there is something to read: every loss NaN shows red, however it ended
    expected_bar = "danger" if points and np.isnan(sweep.losses).all() else bar_style[status]
    assert _last_sent(recorder, control(widget, "lrw-progress"), "bar_style") == expected_bar
    assert _last_sent(recorder, control(widget, "lrw-stop"), "disabled") is True
    # the readout's suggestions are those of the kept points
    suggestions = _expected_suggestions(sweep)
    assert widget.suggestions == suggestions
    if suggestions is not None:
        assert _rule_lr(readout, "valley") == suggestions.valley


# --- endings ------------------------------------------------------------------------------

# (arm, learner kind, status, points kept).  One learner per ending: the adapter's matrix
# (tests/test_faults.py) already runs every ending on all three; here they rotate.
ENDINGS = [
    pytest.param(arm_finished, "digits", "done", NUM_IT, id="finished"),
    pytest.param(arm_diverged, "regression", "diverged", 8, id="diverged"),
    pytest.param(
        arm_model_raises(KeyboardInterrupt()), "synthetic", "stopped", 7, id="keyboard-interrupt"
    ),
    pytest.param(arm_loss_raises, "digits", "failed", 7, id="loss-raises"),
    pytest.param(
        arm_model_raises(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")),
        "regression",
        "failed",
        7,
        id="cuda-oom",
    ),
    pytest.param(arm_nan_from(1), "synthetic", "done", NUM_IT, id="nan-from-first-batch"),
    pytest.param(arm_nan_from(10), "digits", "done", NUM_IT, id="nan-mid-sweep"),
    pytest.param(arm_inf_loss, "regression", "diverged", 8, id="inf-loss"),
    pytest.param(arm_learner_callback_raises, "synthetic", "failed", 7, id="user-callback-raises"),
]


@pytest.mark.parametrize(("arm", "kind", "status", "points"), ENDINGS)
def test_ending_in_background(
    arm: Arm,
    kind: str,
    status: str,
    points: int,
    comm_recorder: CommRecorder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    setup = fault_setup(kind, tmp_path)
    kwargs, expected_error = arm(setup)
    assert kwargs == {}  # the widget passes its own on_batch and stop
    setup.arm()
    files_before = file_listing(tmp_path, Path(os.getcwd()))
    before = user_state(setup.learn)

    widget = _widget(setup.learn)
    widget.start()
    if expected_error is None:
        sweep = widget.wait(timeout=TIMEOUT, chart=True)
    else:
        with pytest.raises(type(expected_error)) as caught:
            widget.wait(timeout=TIMEOUT, chart=True)
        assert caught.value is expected_error
        with pytest.raises(type(expected_error)) as again:  # not consumed by the first wait
            widget.wait()
        assert again.value is expected_error
        sweep = widget.sweep

    assert not widget.running
    assert_unchanged(before, setup.learn)
    assert file_listing(tmp_path, Path(os.getcwd())) == files_before
    assert sweep is not None and sweep is widget.sweep
    assert sweep.status == widget.status == status
    assert len(sweep) == points
    assert sweep.lrs.tolist() == _schedule(points)
    if status == "failed":
        assert sweep.error == f"{type(expected_error).__name__}: {expected_error}"
    else:
        assert sweep.error is None
    _assert_shown(comm_recorder, widget, status, points)


def _press_stop(widget: LRFinderWidget, how: str) -> None:
    if how == "api":
        widget.stop()
    else:
        click(control(widget, "lrw-stop"))  # the browser's click, as a wire message


# Stop pressed while batch `at` runs: that batch is recorded, then the sweep ends.  On the
# last batch the sweep is already complete, so it ends "done" (as in the adapter's matrix).
STOPS = [
    pytest.param(1, "digits", "stopped", id="batch-1"),
    pytest.param(10, "synthetic", "stopped", id="mid-sweep"),
    pytest.param(NUM_IT, "regression", "done", id="last-batch"),
]


@pytest.mark.parametrize("how", ["api", "click"])
@pytest.mark.parametrize(("at", "kind", "status"), STOPS)
def test_stop_pressed(
    at: int,
    kind: str,
    status: str,
    how: str,
    comm_recorder: CommRecorder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    setup = fault_setup(kind, tmp_path)
    pause = PauseAt(at)
    setup.learn.add_cb(pause)
    files_before = file_listing(tmp_path)
    before = user_state(setup.learn)

    widget = _widget(setup.learn)
    widget.start()
    try:
        assert pause.reached.wait(TIMEOUT)
        assert widget.running and widget.status == "running"
        assert len(widget.sweep) == at - 1  # type: ignore[arg-type]
        assert not control(widget, "lrw-stop").disabled
        _press_stop(widget, how)
        assert widget.running  # Stop returns at once; the batch in flight finishes
    finally:
        pause.release.set()
    sweep = widget.wait(timeout=TIMEOUT, chart=True)

    assert_unchanged(before, setup.learn)
    assert file_listing(tmp_path) == files_before
    assert sweep is not None and sweep.status == widget.status == status
    assert len(sweep) == at and sweep.error is None
    assert sweep.lrs.tolist() == _schedule(at)
    _assert_shown(comm_recorder, widget, status, at)


# --- concurrency --------------------------------------------------------------------------


def _reference(kind: str, seed: int, path: Path) -> Sweep:
    """run_sweep on a Learner identical to the one the widget gets."""
    return run_sweep(BUILDERS[kind](seed, path), START_LR, END_LR, NUM_IT)


def test_second_start_refused_while_running(comm_recorder: CommRecorder, tmp_path: Path) -> None:
    setup = fault_setup("digits", tmp_path)
    pause = PauseAt(5)
    setup.learn.add_cb(pause)
    before = user_state(setup.learn)
    widget = _widget(setup.learn)
    widget.start()
    try:
        assert pause.reached.wait(TIMEOUT)
        first = widget.sweep
        with pytest.raises(RuntimeError) as caught:
            widget.start()
        message = str(caught.value)
        assert message.startswith("Run refused") and "running on this Learner (4 / 20)" in message
        assert "widget.stop()" in message and "widget.wait()" in message
        # the Run button, clicked in the browser: refused, and the browser is told why
        click(control(widget, "lrw-run"))
        shown = _last_sent(comm_recorder, control(widget, "lrw-status"))
        assert "Run refused" in shown and "(4 / 20)" in shown
        assert widget.sweep is first and widget.running
    finally:
        pause.release.set()
    sweep = widget.wait(timeout=TIMEOUT, chart=True)
    assert sweep is first and sweep is not None
    assert sweep.status == "done" and len(sweep) == NUM_IT
    assert_unchanged(before, setup.learn)


def test_run_refused_notice_does_not_outlive_the_sweep(
    comm_recorder: CommRecorder, tmp_path: Path
) -> None:
    learn = BUILDERS["regression"](0, tmp_path)
    pause = PauseAt(3)
    learn.add_cb(pause)
    widget = _widget(learn)
    widget.start()
    try:
        assert pause.reached.wait(TIMEOUT)
        click(control(widget, "lrw-run"))
    finally:
        pause.release.set()
    widget.wait(timeout=TIMEOUT, chart=True)
    final_status = _last_sent(comm_recorder, control(widget, "lrw-status"))
    assert 'data-status="done"' in final_status
    assert "Run refused" not in final_status, final_status


def test_fit_from_other_threads_refused_and_the_sweep_completes(
    comm_recorder: CommRecorder, tmp_path: Path
) -> None:
    expected = _reference("regression", 0, tmp_path / "reference")
    learn = BUILDERS["regression"](0, tmp_path / "widget")
    pause = PauseAt(6)
    learn.add_cb(pause)
    before = user_state(learn)
    widget = _widget(learn)
    widget.start()
    outcome: dict[str, BaseException | None] = {}

    def fit_elsewhere() -> None:
        try:
            learn.fit(1)
            outcome["error"] = None
        except BaseException as error:  # reported by the test
            outcome["error"] = error

    try:
        assert pause.reached.wait(TIMEOUT)
        for call in (lambda: learn.fit(1), lambda: learn.fit_one_cycle(1, 1e-3)):
            with pytest.raises(SweepRunningError) as caught:
                call()
            message = str(caught.value)
            assert "learning-rate sweep is running on this Learner" in message
            assert "'lrwidget-sweep'" in message and "Stop button" in message
        other = threading.Thread(target=fit_elsewhere, name="user-thread")
        other.start()
        other.join(TIMEOUT)
        assert isinstance(outcome["error"], SweepRunningError), outcome
        assert "learn.fit() refused" in str(outcome["error"])
        assert widget.running and widget.status == "running"
    finally:
        pause.release.set()
    sweep = widget.wait(timeout=TIMEOUT, chart=True)  # the refusals did not end or fail the sweep
    assert sweep is not None and sweep.status == expected.status == "done"
    assert sweep.error is None
    np.testing.assert_array_equal(sweep.lrs, expected.lrs)
    np.testing.assert_array_equal(sweep.losses, expected.losses)
    assert widget.suggestions == analyze(expected).suggestions
    _assert_shown(comm_recorder, widget, "done", NUM_IT)
    assert_unchanged(before, learn)
    assert "fit" not in learn.__dict__  # the guard is gone: fit works again
    with learn.no_bar(), learn.no_logging():
        learn.fit(1)


def test_two_widgets_sweep_at_once(comm_recorder: CommRecorder, tmp_path: Path) -> None:
    kinds = ("digits", "regression")
    expected = [_reference(kind, 1, tmp_path / "reference") for kind in kinds]
    learners = [BUILDERS[kind](1, tmp_path / "widgets") for kind in kinds]
    pauses = [PauseAt(10), PauseAt(10)]
    for learn, pause in zip(learners, pauses, strict=True):
        learn.add_cb(pause)
    befores = [user_state(learn) for learn in learners]
    widgets = [_widget(learn) for learn in learners]
    for widget in widgets:
        widget.start()
    try:
        # both are mid-sweep at the same time before either may go on
        assert all(pause.reached.wait(TIMEOUT) for pause in pauses)
        assert all(widget.running for widget in widgets)
    finally:
        for pause in pauses:
            pause.release.set()
    for widget, reference, learn, before in zip(widgets, expected, learners, befores, strict=True):
        sweep = widget.wait(timeout=TIMEOUT, chart=True)
        assert sweep is not None and sweep.status == reference.status
        np.testing.assert_array_equal(sweep.lrs, reference.lrs)
        np.testing.assert_array_equal(sweep.losses, reference.losses)
        suggestions = analyze(reference).suggestions
        assert widget.suggestions == suggestions
        assert _rule_lr(_last_sent(comm_recorder, control(widget, "lrw-readout")), "valley") == (
            suggestions.valley
        )
        # the global generators are shared by the two threads: compare everything else
        now = user_state(learn)
        before.update({key: now[key] for key in ("random", "numpy", "torch")})
        assert_unchanged(before, learn)


# --- load: a 10,000-batch stream ----------------------------------------------------------

LONG_SWEEP = 10_000
FIRST_PAUSE, PAUSED_AT = 1_000, 3_000


def test_ten_thousand_batches_stream_at_a_bounded_rate(comm_recorder: CommRecorder) -> None:
    # A real 10,000-batch sweep takes ~45 s on 2 CPUs: a replayed one stands in for fastai's,
    # a few thousand batches per second.  It holds at two batches until released, so the
    # test acts mid-sweep at known points, whatever the machine's speed.
    source = synthetic_sweep(LONG_SWEEP, START_LR, END_LR)
    engine = ReplayEngine(source, delay=0.0003, pause_at=(FIRST_PAUSE, PAUSED_AT))
    widget = engine.widget()
    comm_recorder.clear()
    widget.start()
    raw_mark = widget._chart.raw
    try:
        for batch, pause in engine.pauses.items():
            assert pause.reached.wait(TIMEOUT)
            # While the sweep waits for its next batch, the chart catches up with every point.
            wait_until(
                lambda batch=batch: (
                    last_point_sent(comm_recorder, raw_mark) == source.lrs[batch - 1]
                ),
                f"a streamed update with {batch} points",
            )
            if batch == PAUSED_AT:
                # A slider drag from the browser, mid-sweep: answered at once, new readout.
                browser_update(control(widget, "lrw-beta"), value=0.9)
                answered = comm_recorder.snapshot()[-1].index
                assert widget.running and widget.status == "running" and widget.beta == 0.9
            pause.release.set()
    finally:
        for pause in engine.pauses.values():
            pause.release.set()
    sweep = widget.wait(timeout=TIMEOUT, chart=True)
    assert sweep is not None and sweep.status == "done" and len(sweep) == LONG_SWEEP

    # What the browser held once the drag was answered: analyze(beta=0.9) of the points
    # recorded then.  (An update of the sweep's may have sent it before the test thread's
    # own redraw did; either way it went out before the drag returned.)  The smoothed line of
    # 3,000 points is sent reduced: each point sent is one of the full line's.
    readout = last_sent(comm_recorder, control(widget, "lrw-readout"), "value", answered)
    line_x = last_sent(comm_recorder, widget._chart.smoothed, "x", answered)
    line_y = last_sent(comm_recorder, widget._chart.smoothed, "y", answered)
    partial = Sweep.from_arrays(
        sweep.lrs[:PAUSED_AT],
        sweep.losses[:PAUSED_AT],
        num_it=LONG_SWEEP,
        start_lr=START_LR,
        end_lr=END_LR,
        status="running",
    )
    expected = analyze(partial, beta=0.9)
    indices = np.searchsorted(partial.lrs, line_x)
    np.testing.assert_array_equal(partial.lrs[indices], line_x)
    np.testing.assert_array_equal(line_y, expected.smoothed[indices].astype(np.float64))
    assert line_x[-1] == partial.lrs[-1]
    assert _readout_attributes(readout) == (PAUSED_AT, "running")
    assert _rule_lr(readout, "valley") == expected.suggestions.valley

    # Bounded rate: streamed updates (from the sweep's update thread) at least
    # UPDATE_INTERVAL apart, so never more than 20 in any one second, and at most half of
    # Jupyter Server's 1000 messages/s limit in total (it drops the rest silently).
    raw = comm_recorder.updates(widget._chart.raw)
    streamed = [m.time for m in raw if m.thread == "lrwidget-update"]
    assert len(streamed) >= 2  # it streamed (one update at each pause), not only a final one
    assert np.diff(streamed).min() >= UPDATE_INTERVAL * 0.95
    assert most_in_one_second(streamed) <= 20
    assert most_in_one_second([m.time for m in comm_recorder.snapshot()]) <= 500

    # completed: the final update reaches the last point (every point sent one of the
    # sweep's) and holds the beta set mid-sweep
    final_x = _last_sent(comm_recorder, widget._chart.raw, "x")
    assert final_x[-1] == sweep.lrs[-1] and np.isin(final_x, sweep.lrs).all()
    readout_html = _last_sent(comm_recorder, control(widget, "lrw-readout"))
    assert _readout_attributes(readout_html) == (LONG_SWEEP, "done")
    final = analyze(sweep, beta=0.9)
    assert widget.suggestions == final.suggestions
    assert _rule_lr(readout_html, "valley") == final.suggestions.valley
