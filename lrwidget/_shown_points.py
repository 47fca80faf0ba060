"""Which points of a sweep the chart shows, chosen once per sweep: pure numpy, no widget.

The raw points and the smoothed line are drawn at the same points of the sweep
(:func:`shown_indices`): the raw losses' MinMaxLTTB reduction (:mod:`lrwidget._reduce`), or
every point of a short sweep.  Those depend on the recorded points and the visible LR range
only, never on a setting, so when beta, the smoothing, the cut-offs or the rules change, the
smoothed line keeps its x and a redraw sends its y alone: what a redraw sends does not grow
with the sweep.  The rules' points are drawn at their exact position by a mark of their own;
the line runs through the shown points of the curve, a pixel or less from them on screen.

:class:`PointsMemo` keeps, for the sweep shown, what every redraw of it would otherwise
compute again from all its points: those indices (per visible range) and the LR of each index
boundary.  The analysis is never cached here, nor computed on fewer points.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lrwidget._boundaries import boundary_function
from lrwidget._reduce import MAX_POINTS_PER_MARK, IndexArray, reduce_series

#: Visible ranges remembered per sweep (the whole axis and a few zoomed ranges).
MAX_RANGES = 4


def shown_indices(
    lrs: np.ndarray, losses: np.ndarray, visible: tuple[float, float] | None = None
) -> IndexArray:
    """The indices of the points the chart shows, increasing: every point of a sweep of at
    most MAX_POINTS_PER_MARK points, else the raw losses' reduction (its spikes, extremes and
    non-finite runs included); within the ``visible`` LR range when zoomed."""
    if len(lrs) <= MAX_POINTS_PER_MARK and visible is None:
        return np.arange(len(lrs))
    return reduce_series(lrs, losses, x_range=visible)


class PointsMemo:
    """What the redraws of one sweep share: :func:`shown_indices` and the index boundaries.

    The caller names the points with :meth:`renew` before each redraw; everything kept is
    dropped when they change.  A :class:`~lrwidget.Sweep` only ever appends, so the sweep
    object and its length name its points exactly.  A fresh memo (no :meth:`renew`) computes
    everything once, as a plain function would.
    """

    def __init__(self) -> None:
        self._owner: object = None
        self._count = -1
        self._indices: dict[tuple[float, float] | None, IndexArray] = {}
        self._boundaries: dict[tuple[int, float, float], Callable[[int], float]] = {}

    def renew(self, owner: object, count: int) -> None:
        """The next redraw shows the first ``count`` points of ``owner``: keep what was
        computed for exactly those, drop the rest."""
        if owner is not self._owner or count != self._count:
            self._owner, self._count = owner, count
            self._indices.clear()
            self._boundaries.clear()

    def indices(
        self, lrs: np.ndarray, losses: np.ndarray, visible: tuple[float, float] | None
    ) -> IndexArray:
        """:func:`shown_indices` of the points named by :meth:`renew`."""
        key = None if visible is None else (float(visible[0]), float(visible[1]))
        shown = self._indices.get(key)
        if shown is None or self._count != len(lrs):
            if len(self._indices) >= MAX_RANGES:
                self._indices.clear()
            shown = self._indices[key] = shown_indices(lrs, losses, visible)
        return shown

    def boundary(
        self, lrs: np.ndarray, num_it: int, start_lr: float, end_lr: float
    ) -> Callable[[int], float]:
        """:func:`~lrwidget._boundaries.boundary_function` of the points named by :meth:`renew`."""
        key = (num_it, start_lr, end_lr)
        function = self._boundaries.get(key)
        if function is None or self._count != len(lrs):
            function = self._boundaries[key] = boundary_function(lrs, num_it, start_lr, end_lr)
        return function


def take(values: Any, indices: IndexArray) -> np.ndarray:
    """``values[indices]`` as a fresh float64 array."""
    return np.array(np.asarray(values, dtype=np.float64)[indices], dtype=np.float64)
