"""Shared helpers for the benchmark scripts: paired runs, tables, verdicts, a recording comm.

The machine the benchmarks run on is shared and noisy, so no benchmark compares a time with
a fixed number.  Each one runs the two things it compares side by side, interleaved
(A B A B ...), and reports the ratio per pair with its median, min and max.

Typical use (any ``benchmarks/bench_*.py`` may import this module: ``run_all.py`` runs each
script with ``benchmarks/`` first on ``sys.path``, as ``python benchmarks/bench_x.py`` does)::

    from _common import paired, print_table, summary, verdict

    times = paired({"lrwidget": run_ours, "fastai": run_theirs}, pairs=5, warmup=1)
    ratios = ratios_of(times["lrwidget"], times["fastai"])
    print_table("B9 something", ["variant", "median", "min", "max"], [...])
    verdict("B9", "ours/fastai <= 1.00", summary(ratios).median <= 1.0, f"{...:.2f}x")

A *runner* is a callable that does its own untimed set-up and returns the seconds (or any
other measure) of the part being measured; :func:`timed` builds one from ``setup`` and
``measure`` callables.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

__all__ = [
    "CommRecorder",
    "RecordedMessage",
    "Summary",
    "banner",
    "decode_state",
    "format_seconds",
    "paired",
    "peak_rss_bytes",
    "print_table",
    "ratios_of",
    "reset_peak_rss",
    "rss_bytes",
    "sliding_window_max",
    "summary",
    "timed",
    "verdict",
]


# --- statistics and tables ---------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Median, min and max of repeated measurements (``count`` of them)."""

    median: float
    minimum: float
    maximum: float
    count: int

    def format(self, unit: Callable[[float], str] = "{:.3f}".format) -> list[str]:
        """The three figures as table cells, formatted by ``unit``."""
        return [unit(self.median), unit(self.minimum), unit(self.maximum)]


def summary(values: Sequence[float]) -> Summary:
    """Median, min and max of ``values`` (NaN everywhere when empty)."""
    finite = [float(value) for value in values]
    if not finite:
        return Summary(math.nan, math.nan, math.nan, 0)
    return Summary(statistics.median(finite), min(finite), max(finite), len(finite))


def ratios_of(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per-pair ratios ``numerators[i] / denominators[i]`` (pairs ran back to back)."""
    return [a / b if b else math.inf for a, b in zip(numerators, denominators, strict=True)]


def format_seconds(seconds: float) -> str:
    """``0.0123`` -> ``'12.3 ms'``; ``2.5`` -> ``'2.50 s'``."""
    if not math.isfinite(seconds):
        return "—"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a plain-text table (first column left-aligned, the others right-aligned)."""
    cells = [[str(cell) for cell in header]] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]

    def line(row: Sequence[str]) -> str:
        parts = [
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    print(f"\n{title}")
    print(line(cells[0]))
    print("  ".join("-" * width for width in widths))
    for row in cells[1:]:
        print(line(row))
    sys.stdout.flush()


def verdict(code: str, target: str, met: bool, figure: str) -> bool:
    """Print the final line of a target, ``B1 target <target>: MET (figure)``; return ``met``."""
    print(f"{code} target {target}: {'MET' if met else 'MISSED'} ({figure})", flush=True)
    return met


def banner(text: str) -> None:
    """A one-line heading with the interpreter, torch threads and CPU count."""
    details = [f"python {sys.version.split()[0]}", f"{os.cpu_count()} CPUs"]
    torch = sys.modules.get("torch")
    if torch is not None:
        details.append(f"torch {torch.__version__} with {torch.get_num_threads()} thread(s)")
    print(f"== {text} ({', '.join(details)})", flush=True)


# --- paired runs ---------------------------------------------------------------------------


def timed(setup: Callable[[], T], measure: Callable[[T], object]) -> Callable[[], float]:
    """A runner: ``setup()`` untimed, then the seconds ``measure(setup())`` takes."""

    def runner() -> float:
        prepared = setup()
        start = time.perf_counter()
        measure(prepared)
        return time.perf_counter() - start

    return runner


def paired(
    runners: Mapping[str, Callable[[], float]],
    *,
    pairs: int = 5,
    warmup: int = 1,
    progress: bool = True,
    unit: Callable[[float], str] = format_seconds,
) -> dict[str, list[float]]:
    """Run each runner ``pairs`` times, interleaved A B A B ..., after ``warmup`` rounds.

    The order alternates within each round as well (A B, then B A, ...) so neither side
    always runs right after the other.  ``unit`` formats the progress lines.  Returns runner
    name -> measurements, in round order.
    """
    names = list(runners)
    results: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(warmup + pairs):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            value = runners[name]()
            if round_index >= warmup:
                results[name].append(value)
        if progress and round_index >= warmup:
            cells = ", ".join(f"{name} {unit(results[name][-1])}" for name in names)
            print(f"  pair {round_index - warmup + 1}: {cells}", flush=True)
    return results


# --- memory --------------------------------------------------------------------------------


def _status_field(name: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {name} field (Linux only)")


def rss_bytes() -> int:
    """Resident set size now (VmRSS)."""
    return _status_field("VmRSS")


def peak_rss_bytes() -> int:
    """Peak resident set size since start or the last :func:`reset_peak_rss` (VmHWM)."""
    return _status_field("VmHWM")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def sliding_window_max(times: Sequence[float], window: float = 1.0) -> int:
    """The most events inside any half-open interval ``[t, t + window)``."""
    ordered = sorted(times)
    best, first = 0, 0
    for last, now in enumerate(ordered):
        while now - ordered[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


# --- a recording comm ------------------------------------------------------------------------


@dataclass
class RecordedMessage:
    """One kernel -> front-end message, as the kernel would have sent it."""

    index: int
    comm_id: str
    method: str  # "open", "update", "custom", "echo_update", "close"
    time: float
    nbytes: int  # JSON bytes + binary buffer bytes
    frame: int  # the value of CommRecorder.frame when it was sent
    keys: tuple[str, ...]
    data: dict[str, Any] | None = None  # kept only when the recorder keeps messages
    buffers: list[bytes] | None = None

    def state(self) -> dict[str, Any]:
        """The widget state carried, with bqplot's binary arrays decoded to numpy."""
        if self.data is None:
            raise ValueError("this recorder did not keep message contents (keep=False)")
        return decode_state(self.data, self.buffers or [])


def decode_state(data: dict[str, Any], buffers: Sequence[bytes]) -> dict[str, Any]:
    """Put binary buffers back at their ``buffer_paths`` and decode bqplot arrays."""
    state: dict[str, Any] = dict(data.get("state", {}))
    for path, buffer in zip(data.get("buffer_paths", []), buffers, strict=False):
        target: Any = state
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = buffer
    return {key: _decode(value) for key, value in state.items()}


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and {"value", "dtype", "shape"} <= set(value):
        raw = value["value"]
        if isinstance(raw, list):
            return np.array(raw)
        return np.frombuffer(bytes(raw), dtype=value["dtype"]).reshape(value["shape"])
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [_decode(item) for item in value]
    return value


def _packer() -> Callable[[Any], bytes]:
    try:  # exactly what jupyter_client's Session does to every message it sends
        from jupyter_client.session import json_packer
    except ImportError:  # pragma: no cover - jupyter_client comes with ipykernel
        import json

        def json_packer(obj: Any) -> bytes:
            return json.dumps(obj, ensure_ascii=False, allow_nan=False, default=str).encode()

    return json_packer


class _RecordingComm:
    """Stands in for ipykernel's comm: serialises every message as a kernel would."""

    kernel = "recording"  # truthy: ipywidgets only sends when the comm has a kernel

    def __init__(self, recorder: CommRecorder, **kwargs: Any) -> None:
        self.recorder = recorder
        self.comm_id = kwargs.get("comm_id") or uuid.uuid4().hex
        self.target_name = kwargs.get("target_name", "jupyter.widget")
        recorder._record(self.comm_id, "open", kwargs.get("data") or {}, kwargs.get("buffers"))

    def send(
        self,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
    ) -> None:
        data = data or {}
        self.recorder._record(self.comm_id, str(data.get("method", "?")), data, buffers)

    def on_msg(self, callback: Any) -> None:
        self.callback = callback

    def on_close(self, callback: Any) -> None:
        pass

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self, *args: Any, **kwargs: Any) -> None:
        self.recorder._record(self.comm_id, "close", {}, None)


@dataclass
class CommRecorder:
    """Records every kernel -> front-end widget message, timestamped, after serialising it.

    Each message is JSON-encoded with jupyter_client's own packer and its binary buffers
    are copied, so the widget pays what it pays in a real kernel (minus the socket).  With
    ``keep=False`` only a small record is kept (for memory measurements); with ``keep=True``
    the contents are kept for decoding.  ``frame`` is a label the caller may set; every
    message records the value current when it was sent.
    """

    keep: bool = True
    messages: list[RecordedMessage] = field(default_factory=list)
    frame: int = -1
    count: int = 0
    total_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pack: Callable[[Any], bytes] = field(default_factory=_packer)

    @contextlib.contextmanager
    def installed(self) -> Iterator[CommRecorder]:
        """Route every widget created inside the block to this recorder."""
        import comm

        original = comm.create_comm
        comm.create_comm = lambda *args, **kwargs: _RecordingComm(self, **kwargs)
        try:
            yield self
        finally:
            comm.create_comm = original

    def _record(self, comm_id: str, method: str, data: dict[str, Any], buffers: Any) -> None:
        payload = self._pack({"comm_id": comm_id, "data": data})
        copied = [bytes(buffer) for buffer in buffers or []]
        nbytes = len(payload) + sum(len(buffer) for buffer in copied)
        now = time.perf_counter()
        with self._lock:
            self.count += 1
            self.total_bytes += nbytes
            if self.keep:
                self.messages.append(
                    RecordedMessage(
                        index=self.count - 1,
                        comm_id=comm_id,
                        method=method,
                        time=now,
                        nbytes=nbytes,
                        frame=self.frame,
                        keys=tuple(data.get("state", {})),
                        data=data,
                        buffers=copied,
                    )
                )

    def snapshot(self) -> list[RecordedMessage]:
        """The messages recorded so far (a copy of the list)."""
        with self._lock:
            return list(self.messages)

    def clear(self) -> None:
        """Forget every message and reset the counters."""
        with self._lock:
            self.messages.clear()
            self.count = 0
            self.total_bytes = 0

    def updates(self, widget: Any, since: int = 0) -> list[RecordedMessage]:
        """State updates sent on ``widget``'s comm, from message index ``since`` on."""
        comm_id = widget.comm.comm_id
        return [
            message
            for message in self.snapshot()
            if message.index >= since and message.comm_id == comm_id and message.method == "update"
        ]
