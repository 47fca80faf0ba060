"""Reduce a long series to what a chart can show: pure numpy, deterministic.

bqplot draws every point of a mark as an SVG element, so what the browser receives must not
grow with the sweep.  :func:`reduce_series` picks at most :data:`MAX_POINTS_PER_MARK` points of
one series and returns their sorted indices into the full arrays, so the caller takes ``lrs``,
``losses`` or ``smoothed`` at the same indices (the chart draws the raw points and the smoothed
line at the raw losses' reduction: :mod:`lrwidget._shown_points`; valley's highlighted
stretch and the evidence panel reduce their own series).  The full sweep stays in the kernel:
the analysis never sees a reduced series.

The method is MinMaxLTTB (the one plotly-resampler uses by default): the points are binned in
equal widths of the axis as drawn (log LR), the lowest and highest point of each bin are kept
(four times as many points as wanted), and Largest-Triangle-Three-Buckets then picks the wanted
number among those.  On top of it some points are always kept:

* the first and the last point, and the lowest and the highest finite value (the first one on
  a tie) — the whole curve's extent and the minimum the rules point at;
* every ``keep`` index (points a caller must draw exactly);
* the non-finite values (NaN, +inf, -inf), which show where a sweep diverged: each run of
  consecutive values of one kind keeps its first and last point.  Only when those run ends
  would take more than half of ``max_points`` (thousands of scattered overflow steps, say) are
  they thinned: the axis is cut into ``max_points // 12`` equal parts and each part keeps the
  first and last run end of each kind it holds: no part loses a kind of non-finite value that
  starts or ends a run in it, and a run longer than a part keeps both its ends.

The result never holds more than ``max_points`` points.

The bins follow the x axis only when it is usable: ``x`` (or ``log(x)``) finite and
non-decreasing.  Otherwise (a hand-recorded sweep that runs backwards or out of order, or has
NaN, inf or non-positive learning rates) the index takes the place of x, which is the order a
line mark draws its path in; every guarantee above still holds.

Imports numpy only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lrwidget._errors import LRWidgetValueError

#: The most points one mark receives.  The issue's target is that a redraw of a 100,000-point
#: sweep sends at most 1.2 times the bytes of a 1,000-point one (raw points and smoothed line,
#: x and y in float64): 1,000 points per mark meets it with room, and is about one point per
#: pixel column of a notebook-wide chart.
MAX_POINTS_PER_MARK = 1_000
#: The smallest ``max_points`` accepted: room for the fixed points and a few chosen ones.
MIN_POINTS = 32
#: MinMax keeps this many times the wanted points before LTTB chooses among them.
MINMAX_RATIO = 4

IndexArray = np.ndarray[Any, np.dtype[np.intp]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]

# Non-finite kinds, as codes: finite values are 0.
_NAN, _POSITIVE_INFINITY, _NEGATIVE_INFINITY = 1, 2, 3
_KINDS = 4


def reduce_series(
    x: ArrayLike,
    y: ArrayLike,
    max_points: int = MAX_POINTS_PER_MARK,
    *,
    x_range: tuple[float, float] | None = None,
    keep: ArrayLike | None = None,
    log_x: bool = True,
) -> IndexArray:
    """The sorted, unique indices of at most ``max_points`` points of ``(x, y)`` to draw.

    Args:
        x: Positions along the x axis (the learning rates), one per point.
        y: The values (raw or smoothed losses); NaN and inf are allowed.
        max_points: The most points returned; at least :data:`MIN_POINTS`.
        x_range: ``(low, high)`` in the units of ``x``: only the points with ``low <= x <=
            high`` are reduced, plus the point just before and just after each visible run
            (so a line reaches the edges of a zoomed chart).  None: every point.
        keep: Indices into ``x``/``y`` that are always returned when visible (at most
            ``max_points // 4`` of them).
        log_x: True when the axis is logarithmic: bins are equal in ``log(x)``.

    Returns:
        Indices into the full arrays, increasing, without repeats.  A series (or visible part)
        of at most ``max_points`` points comes back whole: ``np.arange(len(y))`` (or every
        visible index).

    Raises:
        LRWidgetValueError: ``x`` and ``y`` are not 1-D of one length, ``max_points`` is not an
            integer >= MIN_POINTS, ``x_range`` is not an ordered pair, or ``keep`` holds too
            many indices or one out of range.

    Example:
        >>> lrs = np.geomspace(1e-7, 10, 100_000)
        >>> losses = np.sin(np.linspace(0, 20, 100_000))
        >>> shown = reduce_series(lrs, losses)
        >>> len(shown) <= MAX_POINTS_PER_MARK
        True
    """
    positions, values = _as_series(x, y)
    _check_max_points(max_points)
    kept = _as_keep(keep, len(values), max_points)
    visible = None if x_range is None else visible_indices(positions, x_range)
    if visible is None or len(visible) == len(values):
        return _reduce(positions, values, max_points, kept, log_x)
    if len(visible) <= max_points:
        return visible
    found = np.searchsorted(visible, kept)
    inside = found < len(visible)
    inside[inside] = visible[found[inside]] == kept[inside]
    chosen = _reduce(positions[visible], values[visible], max_points, found[inside], log_x)
    return visible[chosen]


def visible_indices(x: ArrayLike, x_range: tuple[float, float]) -> IndexArray:
    """The indices of the points with ``low <= x <= high``, and of each one's neighbours.

    The neighbours (index - 1 and index + 1) let a line run to the edge of the visible range.
    A point with NaN x is never visible itself.
    """
    low, high = _check_x_range(x_range)
    positions = np.asarray(x, dtype=np.float64)
    inside = (positions >= low) & (positions <= high)
    shown = inside.copy()
    shown[:-1] |= inside[1:]
    shown[1:] |= inside[:-1]
    return np.flatnonzero(shown)


def lttb(x: ArrayLike, y: ArrayLike, count: int) -> IndexArray:
    """Largest-Triangle-Three-Buckets (Steinarsson, 2013): the indices of ``count`` points.

    The first and last points are kept; the others are split into ``count - 2`` buckets
    (bucket ``b`` starts at index ``b * (n - 2) // (count - 2) + 1``) and each bucket keeps the
    point that makes the largest triangle with the point kept in the bucket before and the
    mean of the bucket after (the first such point on a tie).  Exact, not an approximation:
    for each bucket and each candidate of the bucket before, the best candidate is found in
    one vectorised pass, and only the chain of choices is walked in Python.  ``x`` and ``y``
    must be finite.  With ``count >= n`` every index is returned.  Time and memory grow as
    ``n * (n / count)``: meant for a few candidates per bucket, as MinMax leaves.
    """
    positions = np.asarray(x, dtype=np.float64)
    values = np.asarray(y, dtype=np.float64)
    length = len(values)
    if count >= length:
        return np.arange(length)
    if count < 3:
        return np.array([0, length - 1][: max(count, 0)], dtype=np.intp)
    buckets = count - 2
    starts = np.arange(buckets + 1, dtype=np.intp) * (length - 2) // buckets + 1
    edges = np.append(starts, length)
    sizes = np.diff(edges[:-1])
    means_x = np.add.reduceat(positions, edges[1:-1]) / np.diff(edges[1:])
    means_y = np.add.reduceat(values, edges[1:-1]) / np.diff(edges[1:])
    columns = np.arange(sizes.max())
    candidates = np.minimum(starts[:-1, None] + columns, length - 1)
    previous = np.vstack([np.zeros((1, len(columns)), dtype=np.intp), candidates[:-1]])
    anchor_x, anchor_y = positions[previous][:, :, None], values[previous][:, :, None]
    point_x, point_y = positions[candidates][:, None, :], values[candidates][:, None, :]
    areas = np.abs(
        (anchor_x - means_x[:, None, None]) * (point_y - anchor_y)
        - (anchor_x - point_x) * (means_y[:, None, None] - anchor_y)
    )
    valid = (columns < sizes[:, None])[:, None, :]
    best = np.argmax(np.where(valid, areas, -1.0), axis=2)
    chosen: list[int] = []
    column = 0
    for row in best.tolist():
        column = row[column]
        chosen.append(column)
    picked = candidates[np.arange(buckets), chosen]
    return np.concatenate([[0], picked, [length - 1]]).astype(np.intp)


def _reduce(
    x: FloatArray, y: FloatArray, max_points: int, keep: IndexArray, log_x: bool
) -> IndexArray:
    """:func:`reduce_series` on the points to show (``keep`` already valid for them)."""
    length = len(y)
    if length <= max_points:
        return np.arange(length)
    positions = _positions(x, log_x)
    finite = np.isfinite(y)
    fixed = [np.array([0, length - 1]), keep]
    if finite.all():
        finite_indices, finite_positions, finite_values = None, positions, y
    else:
        finite_indices = np.flatnonzero(finite)
        finite_positions, finite_values = positions[finite_indices], y[finite_indices]
        fixed.append(_non_finite_marks(positions, y, max_points // 2))
    if not len(finite_values):
        return np.unique(np.concatenate(fixed).astype(np.intp))
    # The extremes, and the first and last finite point (MinMaxLTTB returns those anyway, so
    # they take no room of their own in its budget).
    special = np.array([np.argmin(finite_values), np.argmax(finite_values), 0, -1])
    special = special if finite_indices is None else finite_indices[special]
    reserved = np.unique(np.concatenate([*fixed, special[:2]]).astype(np.intp))
    budget = max_points - len(np.setdiff1d(reserved, special[2:]))
    chosen = _minmax_lttb(finite_positions, finite_values, budget)
    if finite_indices is not None:
        chosen = finite_indices[chosen]
    return np.union1d(reserved, chosen).astype(np.intp)


def _minmax_lttb(positions: FloatArray, values: FloatArray, count: int) -> IndexArray:
    """MinMaxLTTB on finite values at non-decreasing positions: at most ``count`` indices."""
    length = len(values)
    if count >= length:
        return np.arange(length)
    if count < 3 or length <= count * MINMAX_RATIO:
        return lttb(positions, values, count)
    preselected = _minmax(positions, values, count * MINMAX_RATIO // 2)
    if len(preselected) <= count:
        return preselected
    return preselected[lttb(positions[preselected], values[preselected], count)]


def _minmax(positions: FloatArray, values: FloatArray, bins: int) -> IndexArray:
    """The first and last point, and the lowest and highest of each of ``bins`` equal-width
    bins of the (non-decreasing) positions; empty bins give nothing."""
    length = len(values)
    first, last = float(positions[0]), float(positions[-1])
    bounds = first + (last - first) * (np.arange(1, bins) / bins)
    starts = np.unique(np.concatenate([[0], np.searchsorted(positions, bounds)]))
    starts = starts[starts < length]
    sizes = np.diff(np.append(starts, length))
    lowest = _first_equal(values, np.minimum.reduceat(values, starts), starts, sizes)
    highest = _first_equal(values, np.maximum.reduceat(values, starts), starts, sizes)
    return np.unique(np.concatenate([[0, length - 1], lowest, highest]).astype(np.intp))


def _first_equal(
    values: FloatArray, targets: FloatArray, starts: IndexArray, sizes: IndexArray
) -> IndexArray:
    """In each bin (``starts``/``sizes``), the first index whose value equals the bin's target."""
    hits = np.flatnonzero(values == np.repeat(targets, sizes))
    bins = np.searchsorted(starts, hits, side="right")
    first = np.ones(len(hits), dtype=bool)
    first[1:] = bins[1:] != bins[:-1]
    return hits[first]


def _non_finite_marks(positions: FloatArray, values: FloatArray, budget: int) -> IndexArray:
    """The first and last point of each run of one non-finite kind; thinned past ``budget``."""
    kinds = np.zeros(len(values), dtype=np.int8)
    kinds[np.isnan(values)] = _NAN
    kinds[values == np.inf] = _POSITIVE_INFINITY
    kinds[values == -np.inf] = _NEGATIVE_INFINITY
    changes = np.flatnonzero(kinds[1:] != kinds[:-1]) + 1
    run_starts = np.concatenate([[0], changes])
    run_lasts = np.append(changes - 1, len(values) - 1)
    non_finite = kinds[run_starts] != 0
    ends = np.union1d(run_starts[non_finite], run_lasts[non_finite])
    if len(ends) <= budget:
        return ends
    parts = max(budget // (2 * (_KINDS - 1)), 1)
    first, last = float(positions[0]), float(positions[-1])
    scale = parts / (last - first) if last > first else 0.0
    part = np.minimum(((positions[ends] - first) * scale).astype(np.intp), parts - 1)
    groups = part * _KINDS + kinds[ends]
    _, first_of_group = np.unique(groups, return_index=True)
    _, last_of_group = np.unique(groups[::-1], return_index=True)
    return np.union1d(ends[first_of_group], ends[len(ends) - 1 - last_of_group])


def _positions(x: FloatArray, log_x: bool) -> FloatArray:
    """Where the points lie along the axis as drawn, or their index when that is unusable."""
    if log_x:
        with np.errstate(divide="ignore", invalid="ignore"):
            positions = np.log(x)
    else:
        positions = x
    if np.isfinite(positions).all() and bool(np.all(positions[1:] >= positions[:-1])):
        return positions
    return np.arange(len(x), dtype=np.float64)


def _as_series(x: ArrayLike, y: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """``x`` and ``y`` as 1-D float64 arrays of one length (no copy when they already are)."""
    positions = np.asarray(x, dtype=np.float64)
    values = np.asarray(y, dtype=np.float64)
    if positions.ndim != 1 or values.ndim != 1 or len(positions) != len(values):
        raise LRWidgetValueError(
            f"x and y must be 1-D arrays of one length; got shapes {positions.shape} and "
            f"{values.shape}; pass one x (learning rate) per y (loss)"
        )
    return positions, values


def _check_max_points(max_points: int) -> None:
    if isinstance(max_points, bool) or not isinstance(max_points, int | np.integer):
        raise LRWidgetValueError(
            f"max_points must be an integer; got {max_points!r}; pass e.g. MAX_POINTS_PER_MARK"
        )
    if max_points < MIN_POINTS:
        raise LRWidgetValueError(
            f"max_points must be at least {MIN_POINTS}; got {max_points}; "
            f"raise it (the default is {MAX_POINTS_PER_MARK})"
        )


def _check_x_range(x_range: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = (float(bound) for bound in x_range)
    except (TypeError, ValueError):
        raise LRWidgetValueError(
            f"x_range must be a pair (low, high) of numbers; got {x_range!r}; "
            "pass the visible axis range, e.g. (scale.min, scale.max)"
        ) from None
    if math.isnan(low) or math.isnan(high) or low > high:
        raise LRWidgetValueError(
            f"x_range must satisfy low <= high (no NaN); got {x_range!r}; "
            "pass (low, high) in increasing order"
        )
    return low, high


def _as_keep(keep: ArrayLike | None, length: int, max_points: int) -> IndexArray:
    """``keep`` as sorted unique indices, checked against the series and the budget."""
    if keep is None:
        return np.zeros(0, dtype=np.intp)
    indices = np.unique(np.asarray(keep).reshape(-1))
    if len(indices) and (indices.dtype.kind not in "iu" or indices[0] < 0 or indices[-1] >= length):
        raise LRWidgetValueError(
            f"keep must hold integer indices in 0..{length - 1}; got {indices.tolist()!r}; "
            "pass indices into the full series (e.g. each rule's index)"
        )
    if len(indices) > max_points // 4:
        raise LRWidgetValueError(
            f"keep may hold at most max_points // 4 = {max_points // 4} indices; got "
            f"{len(indices)}; keep only the points that must be drawn exactly, or raise max_points"
        )
    return indices.astype(np.intp)
