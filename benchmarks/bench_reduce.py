"""What a redraw sends for long sweeps, and what the reduction costs (issue #13).

Run: ``.venv/bin/python -m benchmarks.bench_reduce``.  For 1k to 1M points it times
:func:`lrwidget._reduce.reduce_series` (numpy) on the raw losses, side by side with
tsdownsample's ``MinMaxLTTBDownsampler`` (Rust) when that is installed, and counts the bytes
of the raw scatter's and the smoothed line's x and y (float64) that a change of beta sends,
drawn at the shown points (:mod:`lrwidget._shown_points`) and at every point.
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
from lrwidget import Sweep, analyze, smoothing
from lrwidget._reduce import MAX_POINTS_PER_MARK, reduce_series
from lrwidget._shown_points import PointsMemo
from lrwidget._view import build_view

SIZES = (1_000, 10_000, 100_000, 1_000_000)
BYTES_PER_VALUE = 8  # float64


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


def redraw_bytes(lrs: np.ndarray, raw: np.ndarray) -> tuple[int, int]:
    """Bytes of the raw points' and the smoothed line's arrays (x and y, float64) that a
    change of beta (0.98 -> 0.9) sends, as the chart sends them (an array that did not change
    is not sent): (drawn at the shown points, drawn at every point)."""
    sweep = Sweep.from_arrays(lrs, raw, num_it=len(lrs), start_lr=lrs[0], end_lr=lrs[-1])
    memo = PointsMemo()
    views = []
    for beta in (0.98, 0.9):
        analysis = analyze(sweep, beta=beta)
        memo.renew(sweep, len(sweep))
        views.append(
            build_view(
                lrs=lrs,
                losses=raw,
                analysis=analysis,
                shown=list(analysis.rules),
                rule_order=list(analysis.rules),
                selected_lr=None,
                selected_color="#000000",
                custom_lr=None,
                num_it=len(lrs),
                start_lr=float(lrs[0]),
                end_lr=float(lrs[-1]),
                skip_start=len(lrs) // 10,
                skip_end=5,
                div_threshold=None,
                memo=memo,
            )
        )
    before, after = views
    sent = 0
    for name in ("raw_x", "raw_y", "smoothed_x", "smoothed_y"):
        old, new = getattr(before, name), getattr(after, name)
        if old.shape != new.shape or not np.array_equal(old, new, equal_nan=True):
            sent += new.nbytes
    # Every point drawn: the x never changes (the LRs), the raw points neither; the line's y does.
    return sent, len(lrs) * BYTES_PER_VALUE


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
        lrs, raw, _ = make_sweep(count)
        times = time_reductions(lrs, raw, downsample)
        reduced, full = redraw_bytes(lrs, raw)
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
        "milliseconds, median (min-max); bytes: what a change of beta sends of the raw points "
        "and the smoothed line (x and y, float64), at the shown points and at every point",
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
