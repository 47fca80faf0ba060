"""Shared helpers for the benchmark scripts: paired runs, tables, verdicts, memory.

The machine the benchmarks run on is shared and noisy, so no benchmark compares a time with
a fixed number.  Each one runs the two things it compares side by side, interleaved
(A B A B ...), and reports the ratio per pair with its median, min and max.

Typical use (the scripts run as modules from the repository root,
``python -m benchmarks.bench_x``; the recording comm and the fake engine come from
``tests.support``, shared with the tests)::

    from benchmarks._common import paired, print_table, summary, verdict

    times = paired({"lrwidget": run_ours, "fastai": run_theirs}, pairs=5, warmup=1)
    ratios = ratios_of(times["lrwidget"], times["fastai"])
    print_table("B9 something", ["variant", "median", "min", "max"], [...])
    verdict("B9", "ours/fastai <= 1.00", summary(ratios).median <= 1.0, f"{...:.2f}x")

A *runner* is a callable that does its own untimed set-up and returns the seconds (or any
other measure) of the part being measured; :func:`timed` builds one from ``setup`` and
``measure`` callables.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = [
    "Summary",
    "banner",
    "format_seconds",
    "frames_sent",
    "paired",
    "peak_rss_bytes",
    "print_table",
    "ratios_of",
    "reset_peak_rss",
    "rss_bytes",
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


def frames_sent(widget: Any) -> int:
    """How many redraws (frames: one message per widget they touch) ``widget`` has sent.

    Read from the widget's stream scheduler, which has no public name for it.
    """
    return int(widget._stream.updates_sent)


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
