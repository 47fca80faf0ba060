"""Where the chart's pieces go, as plain numbers: the loss range of a full and of a streamed
view, and the loss axis' tick format.  Pure numpy and math, used by :mod:`lrwidget._view`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Label rows, in fractions of the plot's height (unit y scale): the first row's centre and
#: the step between rows.
LABEL_TOP = 0.965
LABEL_STEP = 0.055
# Half the height of a label row, in axis fractions: the data stays below the lowest row.
_LABEL_CLEARANCE = 0.04
_RANGE_PAD_BOTTOM = 0.1
_RANGE_PAD_TOP = 0.05
# How far above the descent the rise after the minimum may stretch the range, as a share of
# the descent's height.
_RISE_SHARE = 0.3
# The loss axis shows at most about this many ticks (bqplot's default on a 420 px figure).
_MAX_TICKS = 10


def axis_fraction(lr: float, start_lr: float, end_lr: float) -> float:
    """Where ``lr`` lies along the log axis: 0 at ``start_lr``, 1 at ``end_lr``."""
    if not math.isfinite(lr) or lr <= 0 or end_lr <= start_lr:
        return 0.0
    return math.log(lr / start_lr) / math.log(end_lr / start_lr)


def loss_tick_format(loss_range: tuple[float, float] | None) -> str:
    """A d3 format for the loss axis with enough decimals that neighbouring ticks differ.

    Ticks are at least ``span / 10`` apart, so that step's first significant decimal is
    enough: 2.33 to 2.39 gets ``.3f`` (2.330, 2.335, ...) instead of ``.3g`` (2.33, 2.33, ...).
    """
    if loss_range is None:
        return ".3g"
    step = (loss_range[1] - loss_range[0]) / _MAX_TICKS
    if not math.isfinite(step) or step <= 0:
        return ".3g"
    return f".{min(max(math.ceil(-math.log10(step)), 0), 12)}f"


def loss_range(
    losses: np.ndarray,
    smoothed: np.ndarray,
    window: tuple[int, int],
    label_rows: int,
    divergence_level: float | None,
) -> tuple[float, float] | None:
    """The y range: every finite raw and smoothed loss of the analysed window, padded.

    The descent (window start to the lowest smoothed loss) is always shown in full, raw dots
    included, and so is every point after it but a final blow-up: the tail where the smoothed
    loss stays more than 0.3 of the descent's height above it to the window's end.  So a
    divergence inside the window cannot flatten the part users read, while noisy dots and a
    jagged low-beta line stay on the chart.  Points
    outside the window may fall off the chart.  Room is left above the data for ``label_rows``
    rows of rule labels.  The divergence threshold line (and its drag handle) is included when
    it lies within that cap.
    """
    first, stop = window
    raw = np.asarray(losses[first:stop], dtype=np.float64)
    smooth = np.asarray(smoothed[first:stop], dtype=np.float64)
    finite = np.concatenate([raw[np.isfinite(raw)], smooth[np.isfinite(smooth)]])
    if len(finite) == 0:
        return None
    low, high = float(finite.min()), float(finite.max())
    if np.isfinite(smooth).any():
        turn = int(np.argmin(np.where(np.isfinite(smooth), smooth, np.inf))) + 1
        descent = np.concatenate([raw[:turn], smooth[:turn]])
        descent = descent[np.isfinite(descent)]
        descent_high = float(descent.max())
        if descent_high > low:
            cap = descent_high + _RISE_SHARE * (descent_high - low)
            # Only a blow-up is left out: the tail where the smoothed loss stays above the cap
            # to the window's end.  A spike that comes back down (a low beta) stays in view.
            end = int(np.flatnonzero(np.isfinite(smooth) & (smooth <= cap))[-1]) + 1
            kept = np.concatenate([raw[:end], smooth[:end]])
            high = float(kept[np.isfinite(kept)].max())
            if divergence_level is not None and high < divergence_level <= cap:
                high = divergence_level
    return padded_range(low, high, label_rows)


def padded_range(low: float, high: float, label_rows: int) -> tuple[float, float]:
    """``[low, high]`` padded below, and above for ``label_rows`` rows of rule labels."""
    span = high - low if high > low else max(abs(high) * 0.05, 1e-6)
    bottom = low - span * _RANGE_PAD_BOTTOM
    data_height = span * (1.0 + _RANGE_PAD_BOTTOM + _RANGE_PAD_TOP)
    # Keep the data below the label rows: the lowest row's centre, less half a row.
    data_top = LABEL_TOP - LABEL_STEP * max(label_rows - 1, 0) - _LABEL_CLEARANCE
    top = bottom + data_height / min(max(data_top, 0.5), 1.0)
    return (bottom, top)


def streamed_range(
    current: tuple[float, float] | None, values: Sequence[np.ndarray]
) -> tuple[float, float] | None:
    """The range a light streamed update shows: ``current`` lowered when a new point falls
    below it (with the same bottom padding as a full view); a range of the points themselves
    when there is none yet.  It is never raised: a rise past the top is what a full update
    caps (a blow-up must not flatten the descent)."""
    finite = np.concatenate([np.asarray(value, dtype=np.float64).ravel() for value in values])
    finite = finite[np.isfinite(finite)]
    if len(finite) == 0:
        return current
    low = float(finite.min())
    if current is None:
        return padded_range(low, float(finite.max()), 0)
    bottom, top = current
    if low >= bottom:
        return current
    return (low - (top - low) * _RANGE_PAD_BOTTOM, top)
