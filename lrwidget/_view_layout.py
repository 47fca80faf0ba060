"""Where the chart's pieces go, as plain numbers: the loss range and its tick format, and where
each rule's label sits on its row.  Pure numpy and math, used by :mod:`lrwidget._view`."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

#: Label rows, in fractions of the plot's height (unit y scale): the first row's centre and
#: the step between rows.  A marker line stops at the top of its label's row.
LABEL_TOP = 0.965
LABEL_STEP = 0.055
# Half the height of a label row, in axis fractions: the data stays below the lowest row.
_LABEL_CLEARANCE = 0.04
_RANGE_PAD_BOTTOM = 0.1
_RANGE_PAD_TOP = 0.05
# How far above the descent the rise after the minimum may stretch the range, as a share of
# the descent's height.
_RISE_SHARE = 0.3
#: A raw dot after the descent higher than this many descent heights above it does not stretch
#: the range: it is drawn pinned to the top edge (see :func:`loss_range`, :func:`pin_above`).
SPIKE_SHARE = 2.0
# Where a dot above the range is pinned: this share of the range below its top edge.
_PIN_INSET = 0.012
#: The plot's width in pixels when the figure is 620 px wide (its margins take ~100 px); the
#: kernel never learns the real width, so labels are placed for this one.
PLOT_WIDTH = 520.0
#: Estimated width of one character of a 12 px bold label, in pixels.
CHAR_WIDTH = 7.0
#: Gap between a marker line and its label, in pixels (the labels' ``x_offset``).
LABEL_GAP = 4.0
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


def lr_at(pixel: float, start_lr: float, end_lr: float, width: float) -> float:
    """The LR at ``pixel`` from the left of a log axis ``width`` pixels wide."""
    return start_lr * (end_lr / start_lr) ** (pixel / width)


def label_width(text: str) -> float:
    """Estimated pixel width of a 12 px bold label (about 7 px a character)."""
    return CHAR_WIDTH * len(text)


def place_labels(
    pixels: Sequence[float], widths: Sequence[float], prefer_left: Sequence[bool], width: float
) -> tuple[list[int], list[float]]:
    """Each label's row (0: the top) and left edge (pixels), so that no marker line runs
    through another rule's label and none leaves ``[0, width]``.

    Each marker line rises from the bottom to its own label's row and stops there, so a label
    is crossed only by the lines of labels above it.  Rows are filled from the bottom: each
    takes a rule whose label, right of its line (left when ``prefer_left``) or left of it,
    holds none of the lines still rising past it, the rules' order kept where it can be.
    When no label fits clear, the last rule takes the row, in the clear stretch between those
    lines nearest its own, or else right of its line, kept inside the plot.
    """
    count = len(pixels)
    rows, lefts = [0] * count, [0.0] * count
    remaining = list(range(count))
    for row in range(count - 1, -1, -1):
        index, left = _next_label(remaining, pixels, widths, prefer_left, width)
        rows[index], lefts[index] = row, left
        remaining.remove(index)
    return rows, lefts


def _next_label(
    remaining: Sequence[int],
    pixels: Sequence[float],
    widths: Sequence[float],
    prefer_left: Sequence[bool],
    width: float,
) -> tuple[int, float]:
    """The rule (an index into ``pixels``) whose label takes the lowest free row, and its left
    edge: the latest in order whose label is clear of the other ``remaining`` lines."""
    for index in reversed(remaining):
        pixel, label = pixels[index], widths[index]
        others = [pixels[other] for other in remaining if other != index]
        right, left = pixel + LABEL_GAP, pixel - LABEL_GAP - label
        for side in [left, right] if prefer_left[index] else [right, left]:
            if _is_clear(side, label, others, width):
                return index, side
    index = remaining[-1]
    pixel, label = pixels[index], widths[index]
    # Its own line bounds the stretches too: a label is never drawn across its own line.
    gaps = _gap_positions(pixel, label, sorted(pixels[other] for other in remaining), width)
    fallback = min(max(pixel + LABEL_GAP, 0.0), max(width - label, 0.0))
    return index, min(gaps, key=lambda start: _distance(start, label, pixel), default=fallback)


def _is_clear(start: float, label: float, others: Sequence[float], width: float) -> bool:
    inside = start >= 0.0 and start + label <= width
    return inside and not any(start <= other <= start + label for other in others)


def _gap_positions(pixel: float, label: float, lines: Sequence[float], width: float) -> list[float]:
    """For each clear stretch between the (sorted) marker ``lines`` wide enough for the
    label, its start placed as near ``pixel`` as the stretch allows."""
    edges = [-LABEL_GAP, *lines, width + LABEL_GAP]
    starts: list[float] = []
    for low, high in itertools.pairwise(edges):
        first, last = low + LABEL_GAP, high - LABEL_GAP - label
        if last >= first:
            starts.append(min(max(pixel - label / 2, first), last))
    return starts


def _distance(start: float, label: float, pixel: float) -> float:
    """How far a label spanning ``[start, start + label]`` lies from its line at ``pixel``."""
    return max(start - pixel, pixel - start - label, 0.0)


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
    jagged low-beta line stay on the chart.  A raw dot after the descent more than
    :data:`SPIKE_SHARE` descent heights above it (one batch that blew up, e.g. 16 on a curve
    near 2) does not stretch the range: the chart pins it to the top edge with a marker that
    says it lies higher (:func:`pin_above`).  Room is left above the data for ``label_rows``
    rows of rule labels.  The divergence threshold line (and its drag handle) is included when
    it lies within the cap.
    """
    first, stop = window
    raw = np.asarray(losses[first:stop], dtype=np.float64)
    smooth = np.asarray(smoothed[first:stop], dtype=np.float64)
    # Masked reductions, no copies: this runs on every redraw, over every point.
    series = ((raw, np.isfinite(raw)), (smooth, np.isfinite(smooth)))
    if not any(finite.any() for _, finite in series):
        return None
    low = min(float(np.min(v, where=finite, initial=np.inf)) for v, finite in series)
    high = _finite_max(series, len(smooth))
    smooth_finite = series[1][1]
    if smooth_finite.any():
        turn = int(np.argmin(np.where(smooth_finite, smooth, np.inf))) + 1
        descent_high = _finite_max(series, turn)
        if descent_high > low:
            cap = descent_high + _RISE_SHARE * (descent_high - low)
            # Only a blow-up is left out: the tail where the smoothed loss stays above the cap
            # to the window's end.  A spike that comes back down (a low beta) stays in view.
            below = smooth_finite & (smooth <= cap)
            kept = len(below) - int(np.argmax(below[::-1]))
            high = max(_finite_max(series[1:], kept), _finite_max(series[:1], turn))
            spikes = _finite_max(((raw[turn:kept], series[0][1][turn:kept]),), kept - turn)
            high = max(high, min(spikes, descent_high + SPIKE_SHARE * (descent_high - low)))
            if divergence_level is not None and high < divergence_level <= cap:
                high = divergence_level
    return padded_range(low, high, label_rows)


def _finite_max(series: tuple[tuple[np.ndarray, np.ndarray], ...], stop: int) -> float:
    """The highest finite value among the first ``stop`` of each ``(values, finite)``."""
    return max(
        float(np.max(values[:stop], where=finite[:stop], initial=-np.inf))
        for values, finite in series
    )


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


def pin_above(
    x: np.ndarray, y: np.ndarray, loss_range: tuple[float, float] | None
) -> dict[str, np.ndarray]:
    """``above_x``/``above_y``: the raw dots higher than the top of ``loss_range``, drawn at
    its top edge (their mark says they lie higher; hovering one gives its loss).  The dots
    themselves stay in the raw mark, off the plot, so that a change of settings never
    resends them.  None: no range yet, nothing is pinned."""
    if loss_range is None or not len(y):
        return {"above_x": np.zeros(0), "above_y": np.zeros(0)}
    bottom, top = loss_range
    higher = y > top
    edge = top - _PIN_INSET * (top - bottom)
    return {"above_x": x[higher], "above_y": np.full(int(higher.sum()), edge)}
