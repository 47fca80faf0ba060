"""B3: kernel -> front-end message rate, point latency and final state while a sweep streams.

Two scenarios, each run ``--runs`` times with a recording comm that serialises every message
(JSON + binary buffers) and timestamps it:

* ``fast``: batches of 0.5 ms (``tests.support.engines.ReplayEngine`` stands in for fastai,
  passed as ``engine=``: it busy-waits 0.5 ms holding the GIL, appends a point of a
  range-test-shaped curve and calls the widget's ``on_batch``, exactly as ``run_sweep`` does);
* ``slow``: a real fastai Learner whose callback sleeps 200 ms before every batch, 15 batches.

Measured from the comm's timestamps: *frames* (one widget redraw; every message it sends is
labelled with it) and raw comm messages per second, as the maximum over any 1-s sliding
window and as the mean; messages per frame; the latency from each batch's end (stamped by
:class:`StampedEngine`, which wraps the engine, as ``on_batch`` is called) to the first
message on the raw-loss Scatter whose decoded ``x`` holds that point.  A point whose batch
ended while the throttle forbade a redraw is counted from the end of that period instead
("beyond throttle").  The throttle is the widget's spacing rule (its stream scheduler's next
allowed time after the previous redraw) and the message budget, judged from the recording
alone: the update that carried the point may go out once its messages fit in 20 per 1-s
window with those sent before it.
Finally: the last messages must carry every point and the final status.

Targets: <= 20 messages/s; every point on the chart <= 100 ms after its batch (beyond the
throttle); final state always sent.

    .venv/bin/python -m benchmarks.bench_streaming [--runs 3]
"""

from __future__ import annotations

import argparse
import math
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from fastai.callback.core import Callback
from fastai.test_utils import synth_learner
from fastai.torch_core import set_seed

from benchmarks._common import banner, print_table, summary, verdict
from lrwidget import _fastai
from lrwidget._stream import UPDATE_INTERVAL
from lrwidget.sweep import Sweep
from lrwidget.widget import LRFinderWidget
from tests.support.comm import CommRecorder, SentMessage, most_in_one_second
from tests.support.controls import control
from tests.support.engines import ReplayEngine, synthetic_sweep

FAST_BATCH = 0.0005
FAST_NUM_IT = 3000
SLOW_BATCH = 0.2
SLOW_NUM_IT = 15
LATENCY_LIMIT = 0.100
RATE_LIMIT = 20


# --- the two scenarios ---------------------------------------------------------------------


class StampedEngine:
    """Wraps a sweep engine: stamps ``(points, perf_counter())`` as each batch's ``on_batch``
    is called, before the widget sees the batch."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batch_ends: list[tuple[int, float]] = []

    def check_arguments(
        self, learn: Any, start_lr: float, end_lr: float, num_it: int, stop_div: bool
    ) -> object:
        check = getattr(self.inner, "check_arguments", None)
        return None if check is None else check(learn, start_lr, end_lr, num_it, stop_div)

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
        self.batch_ends = []

        def stamped(recorded: Sweep) -> object:
            self.batch_ends.append((len(recorded), time.perf_counter()))
            return on_batch(recorded)

        result: Sweep = self.inner.run_sweep(
            learn, start_lr, end_lr, num_it, stop_div, on_batch=stamped, stop=stop, sweep=sweep
        )
        return result


class SleepBeforeBatch(Callback):
    """Makes every training batch take at least ``seconds`` (a slow model)."""

    order = 0

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def before_batch(self) -> None:
        if self.learn.training:
            time.sleep(self.seconds)


# --- one instrumented run --------------------------------------------------------------------


@dataclass
class RunResult:
    """What one streamed sweep showed."""

    points: int = 0
    status: str = ""
    duration: float = 0.0
    batch_seconds: float = math.nan
    frames: int = 0
    messages: int = 0
    frame_window_max: int = 0
    message_window_max: int = 0
    frame_rate_mean: float = math.nan
    message_rate_mean: float = math.nan
    per_frame: list[int] = field(default_factory=list)
    redraw_seconds: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    latency_beyond_throttle: list[float] = field(default_factory=list)
    in_throttle: int = 0
    missing_points: int = 0
    final_ok: bool = False
    final_detail: str = ""


def _raw_scatter(widget: LRFinderWidget) -> Any:
    """The Scatter of raw losses (the chart's ``raw`` mark)."""
    return widget._chart.raw


def _instrument(
    widget: LRFinderWidget,
    recorder: CommRecorder,
    refreshes: list[tuple[float, float]],
    durations: list[float],
) -> None:
    """Label every frame the widget sends and note when its throttle lets the next one out.

    Every frame goes through the widget's stream scheduler (private: there is no public hook
    for this): it builds the frame, then ``_emit`` sends and logs it, one frame at a time
    under its draw lock.  Each message is labelled with its frame (``recorder.frame``); each
    frame adds ``(start of its build, the scheduler's next allowed time after it)`` to
    ``refreshes`` and its wall time to ``durations``.
    """
    stream = widget._stream
    build, emit = stream._build, stream._emit
    started: list[float] = []

    def timed_build(kind: Any) -> Any:
        started[:] = [time.perf_counter()]
        return build(kind)

    def labelled_emit(*args: Any, **kwargs: Any) -> None:
        start = started[0] if started else time.perf_counter()
        recorder.frame = len(refreshes)
        try:
            emit(*args, **kwargs)
        finally:
            durations.append(time.perf_counter() - start)
            with stream._lock:
                release = float(stream._next_time())
            refreshes.append((start, release))

    stream._build = timed_build
    stream._emit = labelled_emit  # type: ignore[method-assign]


def run_once(make_widget: Callable[[], tuple[LRFinderWidget, StampedEngine]]) -> RunResult:
    """Build a widget, stream a sweep into a recording comm, analyse the messages."""
    recorder = CommRecorder(encode=True)
    with recorder.installed():
        widget, engine = make_widget()
        raw = _raw_scatter(widget)
        status_html = control(widget, "lrw-status")
        readout = control(widget, "lrw-readout")
        progress = control(widget, "lrw-progress")
        refreshes: list[tuple[float, float]] = []  # (start, throttle release) of every redraw
        durations: list[float] = []
        _instrument(widget, recorder, refreshes, durations)
        first_index = recorder.count
        started = time.perf_counter()
        widget.run()
        # run() returns when the sweep ends; the final update may follow within about a
        # second (the message budget): it is part of what the front end receives.
        widget.wait(10, chart=True)
        ended = time.perf_counter()
    messages = [
        message
        for message in recorder.snapshot()
        if message.index >= first_index and message.kind == "update"
    ]
    batch_ends = engine.batch_ends
    sweep = widget.sweep
    result = RunResult(
        points=0 if sweep is None else len(sweep),
        status=widget.status,
        duration=ended - started,
        redraw_seconds=durations,
    )
    if len(batch_ends) >= 2:
        result.batch_seconds = (batch_ends[-1][1] - batch_ends[0][1]) / (len(batch_ends) - 1)
    _rates(result, messages)
    lrs = np.empty(0) if sweep is None else sweep.lrs
    _latency(result, messages, raw.comm.comm_id, lrs, batch_ends, refreshes)
    _final_state(result, messages, raw, status_html, readout, progress, lrs, batch_ends)
    widget.close()
    return result


def _rates(result: RunResult, messages: list[SentMessage]) -> None:
    frame_times: dict[int, float] = {}
    per_frame: dict[int, int] = {}
    for message in messages:
        frame_times.setdefault(message.frame, message.time)
        per_frame[message.frame] = per_frame.get(message.frame, 0) + 1
    times = [message.time for message in messages]
    result.frames, result.messages = len(frame_times), len(messages)
    result.per_frame = list(per_frame.values())
    result.frame_window_max = most_in_one_second(list(frame_times.values()))
    result.message_window_max = most_in_one_second(times)
    span = times[-1] - times[0] if len(times) >= 2 else math.nan
    result.frame_rate_mean = len(frame_times) / span if span > 0 else math.nan
    result.message_rate_mean = len(times) / span if span > 0 else math.nan


def _budget_release(sent_times: np.ndarray, before: int, cost: int, moment: float) -> float:
    """The first time from ``moment`` at which ``cost`` more messages keep every 1-s window
    within RATE_LIMIT, given the first ``before`` recorded messages (times ascending)."""
    earlier = sent_times[:before]
    first = int(np.searchsorted(earlier, moment - 1.0, side="right"))
    in_window = len(earlier) - first
    if in_window + cost <= RATE_LIMIT:
        return moment
    # Wait until enough of them are more than a second old.
    must_leave = in_window + min(cost, RATE_LIMIT) - RATE_LIMIT
    return max(moment, float(earlier[first + must_leave - 1]) + 1.0)


def _points_up_to(lrs: np.ndarray, x: Any) -> int:
    """How many of the sweep's points a chart sent ``x`` has caught up with.

    A long series is sent reduced, but always with its last point: the count is the position
    of that point among the sweep's learning rates (increasing), plus one.
    """
    sent = np.atleast_1d(np.asarray(x if x is not None else [], dtype=np.float64))
    if len(sent) == 0:
        return 0
    return int(np.searchsorted(lrs, sent[-1], side="left")) + 1


def _latency(
    result: RunResult,
    messages: list[SentMessage],
    raw_comm: str,
    lrs: np.ndarray,
    batch_ends: list[tuple[int, float]],
    refreshes: list[tuple[float, float]],
) -> None:
    # (time, number of points, position in `messages`) of every raw-Scatter message with x.
    arrivals: list[tuple[float, int, int]] = []
    frame_sizes: dict[int, int] = {}
    frame_first: dict[int, int] = {}
    for position, message in enumerate(messages):
        frame_sizes[message.frame] = frame_sizes.get(message.frame, 0) + 1
        frame_first.setdefault(message.frame, position)
        if message.comm_id == raw_comm and "x" in message.keys:
            x = message.state["x"]
            arrivals.append((message.time, _points_up_to(lrs, x), position))
    sent_times = np.array([message.time for message in messages])
    arrival_times = np.array([time for time, _, _ in arrivals])
    covered = np.maximum.accumulate(np.array([count for _, count, _ in arrivals] or [0]))
    starts = np.array([start for start, _ in refreshes])
    releases = np.maximum.accumulate(np.array([release for _, release in refreshes]))
    for count, batch_end in batch_ends:
        # The first message whose chart holds this point (a redraw may have taken its
        # snapshot between the append and our stamp, hence the clamp at zero below).
        index = int(np.searchsorted(covered, count)) if arrivals else 0
        if index >= len(arrivals):
            result.missing_points += 1
            continue
        arrival = float(arrival_times[index])
        # The throttle forbids a redraw until the release of the last redraw that started
        # before this batch ended (the widget's spacing rule) ...
        started_before = int(np.searchsorted(starts, batch_end, side="right"))
        release = float(releases[started_before - 1]) if started_before else -math.inf
        # ... and until the update that carried the point fits in the message budget, judged
        # from the messages recorded before it (not from the widget's own bookkeeping).
        frame = messages[arrivals[index][2]].frame
        release = max(
            release,
            _budget_release(
                sent_times, frame_first[frame], frame_sizes[frame], max(batch_end, release)
            ),
        )
        if batch_end < release:
            result.in_throttle += 1
        result.latency.append(max(arrival - batch_end, 0.0))
        result.latency_beyond_throttle.append(max(arrival - max(batch_end, release), 0.0))


def _last_state(messages: list[SentMessage], widget: Any, key: str) -> tuple[Any, float]:
    comm_id = widget.comm.comm_id
    for message in reversed(messages):
        if message.comm_id == comm_id and key in message.keys:
            return message.state[key], message.time
    return None, math.nan


def _final_state(
    result: RunResult,
    messages: list[SentMessage],
    raw: Any,
    status_html: Any,
    readout: Any,
    progress: Any,
    lrs: np.ndarray,
    batch_ends: list[tuple[int, float]],
) -> None:
    last_batch = batch_ends[-1][1] if batch_ends else -math.inf
    x, x_time = _last_state(messages, raw, "x")
    status_text, status_time = _last_state(messages, status_html, "value")
    readout_text, readout_time = _last_state(messages, readout, "value")
    progress_value, _ = _last_state(messages, progress, "value")
    points = _points_up_to(lrs, x)
    status_match = re.search(r'data-status="([a-z]+)"', status_text or "")
    readout_status = re.search(r'data-status="([a-z]+)"', readout_text or "")
    readout_points = re.search(r'data-points="(\d+)"', readout_text or "")
    problems = []
    if points != result.points:
        problems.append(f"chart has {points} of {result.points} points")
    if status_match is None or status_match.group(1) != result.status:
        problems.append(f"status shows {status_match and status_match.group(1)!r}")
    if readout_status is None or readout_status.group(1) != result.status:
        problems.append(f"readout shows {readout_status and readout_status.group(1)!r}")
    if readout_points is None or int(readout_points.group(1)) != result.points:
        problems.append(f"readout counts {readout_points and readout_points.group(1)} points")
    if progress_value is not None and progress_value != result.points:
        problems.append(f"progress at {progress_value}")
    if not (x_time >= last_batch and status_time >= last_batch and readout_time >= last_batch):
        problems.append("a final message went out before the last batch ended")
    result.final_ok = not problems
    result.final_detail = "; ".join(problems) or f"{result.points} points, {result.status}"


# --- scenarios -------------------------------------------------------------------------------


def fast_widget_factory(path: Path) -> Callable[[], tuple[LRFinderWidget, StampedEngine]]:
    """A widget whose sweep is replayed at 0.5 ms per batch (no Learner: the engine replays
    a range-test-shaped curve over the default schedule)."""
    source = synthetic_sweep(FAST_NUM_IT)

    def make() -> tuple[LRFinderWidget, StampedEngine]:
        engine = StampedEngine(ReplayEngine(source, delay=FAST_BATCH, spin=True))
        learn = SimpleNamespace(lr=1e-3)
        return LRFinderWidget(learn, num_it=FAST_NUM_IT, stop_div=False, engine=engine), engine

    return make


def slow_widget_factory(path: Path) -> Callable[[], tuple[LRFinderWidget, StampedEngine]]:
    """A real fastai Learner that sleeps 200 ms per batch, 15 batches (fastai's adapter, the
    widget's default engine, wrapped to stamp the batches)."""

    def make() -> tuple[LRFinderWidget, StampedEngine]:
        set_seed(0)
        learn = synth_learner(path=path, cbs=[SleepBeforeBatch(SLOW_BATCH)])
        engine = StampedEngine(_fastai)
        return LRFinderWidget(learn, num_it=SLOW_NUM_IT, stop_div=False, engine=engine), engine

    return make


def run_scenario(
    name: str, make: Callable[[], tuple[LRFinderWidget, StampedEngine]], runs: int
) -> list[RunResult]:
    """``runs`` instrumented runs, one progress line each."""
    results = []
    for index in range(runs):
        result = run_once(make)
        results.append(result)
        print(
            f"  {name} run {index + 1}: {result.points} points ({result.status}) in "
            f"{result.duration:.2f} s, {result.frames} frames, {result.messages} messages, "
            f"latency max {1e3 * max(result.latency, default=math.nan):.0f} ms, "
            f"final state {'sent' if result.final_ok else 'NOT sent: ' + result.final_detail}",
            flush=True,
        )
    return results


def _row(label: str, values: list[float], unit: str = "{:.1f}") -> list[str]:
    return [label, *summary(values).format(unit.format)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=FutureWarning)
    banner(
        f"B3 streaming: fast batches ({FAST_BATCH * 1e3:.1f} ms x {FAST_NUM_IT}) and slow "
        f"batches ({SLOW_BATCH * 1e3:.0f} ms x {SLOW_NUM_IT}); UPDATE_INTERVAL "
        f"{UPDATE_INTERVAL * 1e3:.0f} ms"
    )
    scenarios: dict[str, list[RunResult]] = {}
    with tempfile.TemporaryDirectory(prefix="lrwidget-bench-") as directory:
        scenarios["fast"] = run_scenario(
            "fast", fast_widget_factory(Path(directory)), arguments.runs
        )
        scenarios["slow"] = run_scenario(
            "slow", slow_widget_factory(Path(directory)), arguments.runs
        )

    rows: list[list[str]] = []
    for name, results in scenarios.items():
        per_frame = [value for result in results for value in result.per_frame]
        rows += [
            _row(f"{name}: points", [r.points for r in results], "{:.0f}"),
            _row(f"{name}: batch time (ms)", [1e3 * r.batch_seconds for r in results], "{:.2f}"),
            _row(f"{name}: frames/s, max 1-s window", [r.frame_window_max for r in results]),
            _row(f"{name}: frames/s, mean", [r.frame_rate_mean for r in results]),
            _row(f"{name}: messages/s, max 1-s window", [r.message_window_max for r in results]),
            _row(f"{name}: messages/s, mean", [r.message_rate_mean for r in results]),
            _row(f"{name}: messages per frame (all frames)", per_frame, "{:.0f}"),
            _row(
                f"{name}: redraw wall time (ms, all redraws)",
                [1e3 * value for result in results for value in result.redraw_seconds],
            ),
            _row(
                f"{name}: latency, every point (ms)",
                [1e3 * max(r.latency, default=math.nan) for r in results],
            ),
            _row(
                f"{name}: latency p50, every point (ms)",
                [1e3 * float(np.median(r.latency)) if r.latency else math.nan for r in results],
            ),
            _row(
                f"{name}: latency beyond throttle, max (ms)",
                [1e3 * max(r.latency_beyond_throttle, default=math.nan) for r in results],
            ),
            _row(f"{name}: points inside a throttle period", [r.in_throttle for r in results]),
            _row(f"{name}: points never shown", [r.missing_points for r in results], "{:.0f}"),
        ]
    print_table(
        f"B3: streaming, median/min/max over {arguments.runs} runs per scenario "
        "(latency rows: the max of each run)",
        ["measure", "median", "min", "max"],
        rows,
    )

    everything = [result for results in scenarios.values() for result in results]
    frame_peak = max(result.frame_window_max for result in everything)
    message_peak = max(result.message_window_max for result in everything)
    per_frame = summary([value for result in everything for value in result.per_frame])
    verdict(
        "B3",
        f"<= {RATE_LIMIT} msg/s, counting frames (chart updates)",
        frame_peak <= RATE_LIMIT,
        f"max {frame_peak} frames in any 1-s window",
    )
    verdict(
        "B3",
        f"<= {RATE_LIMIT} msg/s, counting raw comm messages",
        message_peak <= RATE_LIMIT,
        f"max {message_peak} messages in any 1-s window; one frame updates several widgets "
        f"(marks, scale, readout, progress): {per_frame.median:.0f} messages per frame "
        f"(median, max {per_frame.maximum:.0f})",
    )
    beyond = max(
        (value for result in everything for value in result.latency_beyond_throttle),
        default=math.inf,
    )
    raw_max = max((value for result in everything for value in result.latency), default=math.inf)
    missing = sum(result.missing_points for result in everything)
    verdict(
        "B3",
        f"every point on the chart <= {LATENCY_LIMIT * 1e3:.0f} ms after its batch "
        "(beyond the throttle period)",
        beyond <= LATENCY_LIMIT and missing == 0,
        f"max {1e3 * beyond:.0f} ms beyond throttle; max {1e3 * raw_max:.0f} ms counting the "
        f"throttle wait; {missing} points never shown",
    )
    sent = sum(result.final_ok for result in everything)
    failures = "; ".join(result.final_detail for result in everything if not result.final_ok)
    verdict(
        "B3",
        "final state always sent",
        sent == len(everything),
        f"{sent}/{len(everything)} runs" + (f": {failures}" if failures else ""),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
