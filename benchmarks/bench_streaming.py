"""B3: kernel -> front-end message rate, point latency and final state while a sweep streams.

Two scenarios, each run ``--runs`` times with a recording comm that serialises every message
(JSON + binary buffers) and timestamps it:

* ``fast``: batches of 0.5 ms (a replay engine stands in for fastai: it busy-waits 0.5 ms
  holding the GIL, appends a point of a recorded-looking curve and calls the widget's
  ``on_batch``, exactly as ``run_sweep`` does);
* ``slow``: a real fastai Learner whose callback sleeps 200 ms before every batch, 15 batches.

Measured from the comm's timestamps: *frames* (one widget redraw; every message it sends is
labelled with it) and raw comm messages per second, as the maximum over any 1-s sliding
window and as the mean; messages per frame; the latency from each batch's end (stamped in
``on_batch``) to the first message on the raw-loss Scatter whose decoded ``x`` holds that
point.  A point whose batch ended while the throttle forbade a redraw is counted from the
end of that period instead ("beyond throttle").  The throttle is the widget's spacing rule
(its own ``_next_stream_time()`` after the previous redraw, else ``UPDATE_INTERVAL`` after
it) and the message budget, judged from the recording alone: the update that carried the
point may go out once its messages fit in 20 per 1-s window with those sent before it.
Finally: the last messages must carry every point and the final status.

Targets: <= 20 messages/s; every point on the chart <= 100 ms after its batch (beyond the
throttle); final state always sent.

    .venv/bin/python benchmarks/bench_streaming.py [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import (
    CommRecorder,
    RecordedMessage,
    banner,
    print_table,
    sliding_window_max,
    summary,
    verdict,
)
from fastai.callback.core import Callback
from fastai.test_utils import synth_learner
from fastai.torch_core import set_seed

import lrwidget.widget as widget_module
from lrwidget.sweep import Sweep
from lrwidget.widget import UPDATE_INTERVAL, LRFinderWidget

FAST_BATCH = 0.0005
FAST_NUM_IT = 3000
SLOW_BATCH = 0.2
SLOW_NUM_IT = 15
LATENCY_LIMIT = 0.100
RATE_LIMIT = 20


# --- the two scenarios ---------------------------------------------------------------------


def _replay_curve(num_it: int, start_lr: float, end_lr: float) -> tuple[np.ndarray, np.ndarray]:
    """An LR-finder-shaped curve: flat, a descent, a minimum, then a blow-up; seeded noise."""
    rng = np.random.default_rng(0)
    lrs = start_lr * (end_lr / start_lr) ** (np.arange(num_it) / num_it)
    position = np.log10(lrs)
    losses = 1.5 - 0.8 / (1 + np.exp(-2 * (position + 4))) + 0.05 * np.exp(2 * (position + 1))
    return lrs, losses + rng.normal(0, 0.03, num_it)


class ReplayEngine:
    """Stands in for ``lrwidget._fastai``: replays a curve at ``batch_seconds`` per batch.

    Each batch busy-waits (holding the GIL, like fastai's Python-heavy training loop), then
    appends its point and calls ``on_batch`` — the same contract as ``run_sweep``.  Every
    other attribute (the argument checks) is the real adapter's.
    """

    def __init__(self, batch_seconds: float) -> None:
        self.batch_seconds = batch_seconds

    def __getattr__(self, name: str) -> Any:
        # Argument checks and anything else the widget asks of the engine: the real adapter's.
        from lrwidget import _fastai

        return getattr(_fastai, name)

    def run_sweep(
        self,
        learn: object,
        start_lr: float,
        end_lr: float,
        num_it: int,
        stop_div: bool,
        *,
        on_batch: Callable[[Sweep], object] | None = None,
        stop: threading.Event | None = None,
        sweep: Sweep | None = None,
    ) -> Sweep:
        if sweep is None:
            sweep = Sweep(num_it, start_lr, end_lr, stop_div=stop_div)
        lrs, losses = _replay_curve(num_it, start_lr, end_lr)
        status = "done"
        for lr, loss in zip(lrs, losses, strict=True):
            if stop is not None and stop.is_set():
                status = "stopped"
                break
            deadline = time.perf_counter() + self.batch_seconds
            while time.perf_counter() < deadline:
                pass
            sweep.append(float(lr), float(loss))
            if on_batch is not None:
                on_batch(sweep)
        sweep.status = status  # type: ignore[assignment]
        return sweep


@contextlib.contextmanager
def replay_engine(batch_seconds: float) -> Iterator[None]:
    """Make the widget sweep with :class:`ReplayEngine` inside the block."""
    engine = ReplayEngine(batch_seconds)
    original = widget_module._engine
    widget_module._engine = lambda: engine  # type: ignore[assignment]
    try:
        yield
    finally:
        widget_module._engine = original  # type: ignore[assignment]


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


def _walk(root: Any) -> Iterator[Any]:
    """Every widget under ``root``: children of boxes, marks of figures."""
    yield root
    for child in [*getattr(root, "children", ()), *getattr(root, "marks", ())]:
        yield from _walk(child)


def _find(widget: LRFinderWidget, predicate: Callable[[Any], bool], what: str) -> Any:
    for candidate in _walk(widget):
        if predicate(candidate):
            return candidate
    raise LookupError(f"no {what} found in the widget tree")


def _by_class(name: str) -> Callable[[Any], bool]:
    return lambda candidate: name in getattr(candidate, "_dom_classes", ())


def _raw_scatter(widget: LRFinderWidget) -> Any:
    """The Scatter of raw losses: the chart's ``raw`` mark, else the one labelled so."""
    mark = getattr(getattr(widget, "_chart", None), "raw", None)
    if mark is not None:
        return mark
    return _find(
        widget,
        lambda candidate: (
            type(candidate).__name__ == "Scatter"
            and list(getattr(candidate, "labels", [])) == ["raw loss"]
        ),
        "raw-loss Scatter",
    )


def _throttle_release(widget: LRFinderWidget, ended: float) -> float:
    """When the widget's throttle lets the next streamed redraw out, after one that ended at
    ``ended``: its own rule when it exposes one, else ``UPDATE_INTERVAL`` later."""
    next_time = getattr(widget, "_next_stream_time", None)
    if next_time is None:
        return ended + UPDATE_INTERVAL
    with widget._lock:
        return float(next_time())


def run_once(make_widget: Callable[[], LRFinderWidget]) -> RunResult:
    """Build a widget, stream a sweep into a recording comm, analyse the messages."""
    recorder = CommRecorder(keep=True)
    with recorder.installed():
        widget = make_widget()
        raw = _raw_scatter(widget)
        status_html = _find(widget, _by_class("lrw-status"), "status (lrw-status)")
        readout = _find(widget, _by_class("lrw-readout"), "readout (lrw-readout)")
        progress = _find(widget, _by_class("lrw-progress"), "progress bar (lrw-progress)")

        batch_ends: list[tuple[int, float]] = []
        refreshes: list[tuple[float, float]] = []  # (start, throttle release) of every redraw
        durations: list[float] = []
        original_on_batch, original_refresh = widget._on_batch, widget._refresh

        def on_batch(sweep: Sweep) -> None:
            batch_ends.append((len(sweep), time.perf_counter()))
            original_on_batch(sweep)

        def refresh(**options: Any) -> None:
            with widget._draw_lock:  # the label must not change while another redraw sends
                recorder.frame = len(refreshes)
                start = time.perf_counter()
                try:
                    original_refresh(**options)
                finally:
                    ended = time.perf_counter()
                    durations.append(ended - start)
                    release = _throttle_release(widget, ended)
                    refreshes.append((start, release))

        widget._on_batch = on_batch  # type: ignore[method-assign]
        widget._refresh = refresh  # type: ignore[method-assign]
        first_index = recorder.count
        started = time.perf_counter()
        widget.run()
        # run() returns when the sweep ends; the final update may follow within about a
        # second (the message budget): it is part of what the front end receives.
        if not widget._drawn.wait(10):
            raise RuntimeError("the final update was not sent within 10 s")
        ended = time.perf_counter()
    messages = [
        message
        for message in recorder.snapshot()
        if message.index >= first_index and message.method == "update"
    ]
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
    _latency(result, messages, raw.comm.comm_id, batch_ends, refreshes)
    _final_state(result, messages, raw, status_html, readout, progress, batch_ends)
    return result


def _rates(result: RunResult, messages: list[RecordedMessage]) -> None:
    frame_times: dict[int, float] = {}
    per_frame: dict[int, int] = {}
    for message in messages:
        frame_times.setdefault(message.frame, message.time)
        per_frame[message.frame] = per_frame.get(message.frame, 0) + 1
    times = [message.time for message in messages]
    result.frames, result.messages = len(frame_times), len(messages)
    result.per_frame = list(per_frame.values())
    result.frame_window_max = sliding_window_max(list(frame_times.values()))
    result.message_window_max = sliding_window_max(times)
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


def _latency(
    result: RunResult,
    messages: list[RecordedMessage],
    raw_comm: str,
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
            x = message.state()["x"]
            arrivals.append((message.time, 0 if x is None else len(np.atleast_1d(x)), position))
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


def _last_state(messages: list[RecordedMessage], widget: Any, key: str) -> tuple[Any, float]:
    comm_id = widget.comm.comm_id
    for message in reversed(messages):
        if message.comm_id == comm_id and key in message.keys:
            return message.state()[key], message.time
    return None, math.nan


def _final_state(
    result: RunResult,
    messages: list[RecordedMessage],
    raw: Any,
    status_html: Any,
    readout: Any,
    progress: Any,
    batch_ends: list[tuple[int, float]],
) -> None:
    last_batch = batch_ends[-1][1] if batch_ends else -math.inf
    x, x_time = _last_state(messages, raw, "x")
    status_text, status_time = _last_state(messages, status_html, "value")
    readout_text, readout_time = _last_state(messages, readout, "value")
    progress_value, _ = _last_state(messages, progress, "value")
    points = 0 if x is None else len(np.atleast_1d(x))
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


def fast_widget_factory(path: Path) -> Callable[[], LRFinderWidget]:
    """A widget whose sweep is replayed at 0.5 ms per batch (the Learner only passes the
    argument checks; it never trains)."""

    def make() -> LRFinderWidget:
        learn = synth_learner(path=path)
        return LRFinderWidget(learn, num_it=FAST_NUM_IT, stop_div=False)

    return make


def slow_widget_factory(path: Path) -> Callable[[], LRFinderWidget]:
    """A real fastai Learner that sleeps 200 ms per batch, 15 batches."""

    def make() -> LRFinderWidget:
        set_seed(0)
        learn = synth_learner(path=path, cbs=[SleepBeforeBatch(SLOW_BATCH)])
        return LRFinderWidget(learn, num_it=SLOW_NUM_IT, stop_div=False)

    return make


def run_scenario(name: str, make: Callable[[], LRFinderWidget], runs: int) -> list[RunResult]:
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
        with replay_engine(FAST_BATCH):
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
