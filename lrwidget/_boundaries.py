"""Index boundaries on the log-LR axis: where a cut-off between two points is drawn.

The skip handles and the excluded spans sit on the edge between two points (boundary ``i`` is
the edge between point ``i - 1`` and point ``i``), and a dropped handle snaps to the nearest
edge.  Pure numpy; nothing here is sized by a number the user typed (``num_it``) rather than
by the points recorded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def schedule_boundary(index: int, count: int, start_lr: float, end_lr: float) -> float:
    """The LR of index boundary ``index`` on the exponential schedule of ``count`` points (what
    :func:`boundary_lrs` gives before any point is recorded), without building the array."""
    position = (index - 0.5) / max(count, 1)
    return float(min(max(start_lr * (end_lr / start_lr) ** position, start_lr), end_lr))


def nearest_schedule_boundary(lr: float, count: int, start_lr: float, end_lr: float) -> int:
    """The inverse of :func:`schedule_boundary`: the index boundary nearest ``lr`` (log space)."""
    if not math.isfinite(lr) or lr <= 0:
        return 0
    position = math.log(lr / start_lr) / math.log(end_lr / start_lr) * max(count, 1) + 0.5
    return int(min(max(round(position), 0), count))


def boundary_lrs(lrs: np.ndarray, count: int, start_lr: float, end_lr: float) -> FloatArray:
    """The LR drawn for each index boundary 0..count (the edge between point i-1 and point i).

    Between two recorded points: their geometric mean.  Outside the recorded points (or with
    none): the exponential schedule at i - 1/2, clipped to [start_lr, end_lr].  ``count`` is
    the number of points (``len(lrs)``) or, with no points, the number requested.
    """
    indices = np.arange(count + 1, dtype=np.float64)
    recorded = len(lrs)
    schedule = start_lr * (end_lr / start_lr) ** ((indices - 0.5) / max(count, 1))
    result = np.clip(schedule, start_lr, end_lr)
    if recorded >= 2:
        inner = np.sqrt(lrs[:-1] * lrs[1:])
        last = min(recorded, count + 1)
        result[1:last] = inner[: last - 1]
    if recorded >= 1:
        result[0] = min(start_lr, float(lrs[0]))
        if recorded <= count:
            result[recorded] = end_lr if recorded == count else result[recorded]
    return np.asarray(result, dtype=np.float64)


def nearest_boundary(lr: float, boundaries: np.ndarray) -> int:
    """The index boundary whose LR is nearest to ``lr`` in log space."""
    if not math.isfinite(lr) or lr <= 0 or len(boundaries) == 0:
        return 0
    distances = np.abs(np.log(boundaries) - math.log(lr))
    return int(np.argmin(distances))


def boundary_function(
    lrs: np.ndarray, num_it: int, start_lr: float, end_lr: float
) -> Callable[[int], float]:
    """``boundary(index)``, the LR of an index boundary clamped to those there are: between
    the recorded points, or (before the first point) on the schedule of ``num_it`` points."""
    count = len(lrs)
    if count:
        boundaries = boundary_lrs(lrs, count, start_lr, end_lr)
        return lambda index: float(boundaries[min(max(index, 0), count)])
    return lambda index: schedule_boundary(min(max(index, 0), num_it), num_it, start_lr, end_lr)


def nearest_boundary_index(
    lr: float, lrs: np.ndarray, num_it: int, start_lr: float, end_lr: float
) -> int:
    """The index boundary nearest ``lr`` (log space): among the recorded points' edges, or on
    the schedule of ``num_it`` points before the first point."""
    if len(lrs):
        return nearest_boundary(lr, boundary_lrs(lrs, len(lrs), start_lr, end_lr))
    return nearest_schedule_boundary(lr, num_it, start_lr, end_lr)


def skip_for_handle(
    handle: int, lr: float, lrs: np.ndarray, num_it: int, start_lr: float, end_lr: float
) -> dict[str, int]:
    """The setting a dropped cut-off handle means: ``skip_start`` for handle 0, ``skip_end``
    for handle 1, snapped to the index boundary nearest ``lr`` and kept within ``num_it``."""
    boundary = nearest_boundary_index(lr, lrs, num_it, start_lr, end_lr)
    if handle == 0:
        return {"skip_start": min(boundary, num_it)}
    count = len(lrs) if len(lrs) else num_it
    return {"skip_end": min(max(count - boundary, 0), num_it)}
