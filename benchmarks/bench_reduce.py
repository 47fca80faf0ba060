"""What a redraw sends for long sweeps, and what the reduction costs (issue #13).

Run: ``.venv/bin/python -m benchmarks.bench_reduce``.  For 1k to 1M points it times
:func:`lrwidget._reduce.reduce_series` (numpy) on the raw losses, side by side with
tsdownsample's ``MinMaxLTTBDownsampler`` (Rust) when that is installed, and counts the bytes
of the x and y float64 arrays the raw scatter and the smoothed line receive, reduced and full.
Both timings include ``log(lr)`` (the bins are equal on the log axis); the numpy one also
includes what tsdownsample does not do (keeping NaN/inf, the extremes, the first and last
point).  A second table shows what tsdownsample returns for inputs a recorded sweep may hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from benchmarks._common import (
    banner,
    format_seconds,
    paired,
    print_table,
    summary,
    timed,
    verdict,
)
from lrwidget import smoothing
from lrwidget._reduce import MAX_POINTS_PER_MARK, reduce_series

SIZES = (1_000, 10_000, 100_000, 1_000_000)
BYTES_PER_POINT = 2 * 8  # x and y, float64 each


def load_tsdownsample() -> Callable[[np.ndarray, np.ndarray, int], np.ndarray] | None:
    """tsdownsample's MinMaxLTTB as ``f(x, y, n_out) -> indices``, or None when not installed."""
    try:
        from tsdownsample import MinMaxLTTBDownsampler
    except ImportError:
        return None
    downsampler = MinMaxLTTBDownsampler()

    def downsample(x: np.ndarray, y: np.ndarray, count: int) -> np.ndarray:
        return np.asarray(downsampler.downsample(x, y, n_out=count))

    return downsample


def make_sweep(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """fastai's schedule over 1e-7..10, a noisy falling-then-diverging loss, its smoothed curve."""
    rng = np.random.default_rng(seed)
    position = np.arange(count) / count
    lrs = 1e-7 * (10 / 1e-7) ** position
    raw = 2.5 - 1.5 * position + 8 * np.clip(position - 0.7, 0, None) ** 2
    raw = raw + 0.1 * rng.standard_normal(count)
    return lrs, raw, smoothing.ema(raw).astype(np.float64)


def redraw_bytes(lrs: np.ndarray, raw: np.ndarray, smoothed: np.ndarray) -> tuple[int, int]:
    """Bytes of the raw scatter's and the smoothed line's x and y: (reduced, full)."""
    shown = len(reduce_series(lrs, raw)) + len(reduce_series(lrs, smoothed))
    return shown * BYTES_PER_POINT, 2 * len(lrs) * BYTES_PER_POINT


def time_reductions(
    lrs: np.ndarray, raw: np.ndarray, downsample: Callable[..., np.ndarray] | None
) -> dict[str, list[float]]:
    """Median-ready timings of the numpy reduction and of tsdownsample, interleaved."""
    runners = {"numpy": timed(lambda: None, lambda _: reduce_series(lrs, raw))}
    if downsample is not None:
        runners["tsdownsample"] = timed(
            lambda: None, lambda _: downsample(np.log(lrs), raw, MAX_POINTS_PER_MARK)
        )
    pairs = 5 if len(lrs) >= 1_000_000 else 15
    return paired(runners, pairs=pairs, warmup=2, progress=False)


def describe(times: list[float] | None) -> str:
    if times is None:
        return "not installed"
    figures = summary(times)
    return f"{figures.median * 1e3:.2f} ({figures.minimum * 1e3:.2f}-{figures.maximum * 1e3:.2f})"


def odd_inputs(downsample: Callable[..., np.ndarray] | None) -> None:
    """What each method keeps of inputs a hand-recorded sweep may hold (100k points)."""
    count = 100_000
    lrs, raw, _ = make_sweep(count, seed=1)
    with_nan = raw.copy()
    with_nan[[12_345, 54_321]] = np.nan
    cases = {
        "2 NaN losses: NaN kept": (lrs, with_nan, lambda kept: int(np.isnan(with_nan[kept]).sum())),
        "lrs decreasing: points returned": (lrs[::-1].copy(), raw, len),
        "lrs shuffled: points returned": (np.random.default_rng(2).permutation(lrs), raw, len),
    }
    rows = []
    for name, (x, y, measure) in cases.items():
        ours = measure(reduce_series(x, y))
        if downsample is None:
            theirs = "not installed"
        else:
            try:
                theirs = str(measure(downsample(np.log(x), y, MAX_POINTS_PER_MARK)))
            except Exception as error:  # report whatever it raises, do not stop the benchmark
                theirs = f"raises {type(error).__name__}"
        rows.append([name, ours, theirs])
    print_table("inputs a recorded sweep may hold (100k points)", ["case", "numpy", "tsds"], rows)


def main() -> None:
    banner(f"B9 reduce_series: at most {MAX_POINTS_PER_MARK} points per mark")
    downsample = load_tsdownsample()
    rows = []
    numpy_100k = math.nan
    sent: dict[int, int] = {}
    for count in SIZES:
        lrs, raw, smoothed = make_sweep(count)
        times = time_reductions(lrs, raw, downsample)
        reduced, full = redraw_bytes(lrs, raw, smoothed)
        sent[count] = reduced
        if count == 100_000:
            numpy_100k = summary(times["numpy"]).median
        rows.append(
            [
                f"{count:,}",
                describe(times["numpy"]),
                describe(times.get("tsdownsample")),
                f"{reduced:,}",
                f"{full:,}",
                f"{reduced / full:.4f}",
            ]
        )
    print_table(
        "milliseconds, median (min-max); bytes = x+y float64 of raw points and smoothed line",
        ["points", "numpy ms", "tsdownsample ms", "bytes sent", "bytes full", "share"],
        rows,
    )
    odd_inputs(downsample)
    print()
    ratio = sent[100_000] / sent[1_000]
    verdict(
        "B9",
        "bytes per redraw at 100,000 points <= 1.2x bytes at 1,000 points",
        ratio <= 1.2,
        f"{ratio:.2f}x: {sent[100_000]:,} B vs {sent[1_000]:,} B",
    )
    verdict(
        "B9",
        "numpy reduction <= 5 ms at 100k",
        numpy_100k <= 5e-3,
        format_seconds(numpy_100k),
    )


if __name__ == "__main__":
    main()
