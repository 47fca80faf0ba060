"""Why a rule points where it does: its construction as plain arrays (pure numpy).

:func:`build_evidence` turns the ``evidence`` a rule left on its
:class:`~lrwidget.analysis.RuleResult` into what the chart draws for it:

* valley: its longest falling stretch highlighted along the smoothed curve, from fastai's
  ``max_start`` (the window's start when that is -1) to ``max_end``, and the point it returns;
* steep: the steepest step highlighted on the curve, and in the panel under the chart the
  slope fastai takes the argmin of, with that minimum marked at the returned LR;
* slide: the window where fastai's walk stopped, bracketed on the curve, and in the panel the
  gradient with the ±thresh band around its right end that stopped the walk;
* minimum: its lowest point and the ÷10 link (drawn by the main view).

Indices in ``evidence`` count from the analysed window's start; everything here is drawn on
the full sweep's LRs, so it follows every control and the chart's zoom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lrwidget._reduce import MAX_POINTS_PER_MARK, reduce_series

if TYPE_CHECKING:
    from lrwidget.analysis import Analysis

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
#: Half the height of slide's window brackets, as a share of the loss axis's span.
BRACKET_SHARE = 0.04
#: The most points of the highlighted stretch (what a redraw sends of it at any sweep length).
STRETCH_POINTS = 250
#: The panel's y range keeps this share of the finite values (outliers would flatten it).
PANEL_QUANTILES = (0.01, 0.99)


def _empty() -> FloatArray:
    return np.zeros(0, dtype=np.float64)


@dataclass(frozen=True)
class EvidenceView:
    """What the chart draws to show one rule's construction (all empty: nothing to show)."""

    rule: str = ""
    color: str = "#7f7f7f"
    stretch_x: FloatArray = field(default_factory=_empty)
    stretch_y: FloatArray = field(default_factory=_empty)
    point_x: FloatArray = field(default_factory=_empty)
    point_y: FloatArray = field(default_factory=_empty)
    bracket_x: FloatArray = field(default_factory=_empty)
    bracket_y: FloatArray = field(default_factory=_empty)
    panel_x: FloatArray = field(default_factory=_empty)
    panel_y: FloatArray = field(default_factory=_empty)
    panel_point_x: FloatArray = field(default_factory=_empty)
    panel_point_y: FloatArray = field(default_factory=_empty)
    band_x: FloatArray = field(default_factory=_empty)
    band_y: FloatArray = field(default_factory=_empty)
    panel_label: str = ""
    panel_range: tuple[float, float] | None = None
    caption: str = ""

    @property
    def has_panel(self) -> bool:
        """True when the rule has a curve of its own to show under the chart."""
        return len(self.panel_x) > 0


def _curve(lrs: FloatArray, smoothed: FloatArray, first: int, last: int) -> dict[str, Any]:
    """The smoothed curve from ``first`` to ``last`` (inclusive), reduced for the screen: a
    10-px band along a smooth curve needs far fewer points than the curve itself."""
    x, y = lrs[first : last + 1], smoothed[first : last + 1]
    if len(x) > STRETCH_POINTS:
        shown = reduce_series(x, y, STRETCH_POINTS)
        x, y = x[shown], y[shown]
    return {"stretch_x": np.array(x), "stretch_y": np.array(y)}


def _panel(x: FloatArray, y: np.ndarray, label: str) -> dict[str, Any]:
    """The panel's curve, reduced for the screen, and a y range that ignores outliers."""
    values = np.asarray(y, dtype=np.float64)
    positions = np.asarray(x, dtype=np.float64)
    if len(positions) > MAX_POINTS_PER_MARK:
        shown = reduce_series(positions, values)
        positions, values = positions[shown], values[shown]
    finite = np.asarray(y, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    panel_range = None
    if len(finite):
        low, high = (float(v) for v in np.quantile(finite, PANEL_QUANTILES))
        pad = 0.08 * (high - low) if high > low else max(abs(high), 1e-12)
        panel_range = (low - pad, high + pad)
    return {
        "panel_x": positions,
        "panel_y": values,
        "panel_label": label,
        "panel_range": panel_range,
    }


def _points(xs: Sequence[float], ys: Sequence[float], prefix: str = "") -> dict[str, Any]:
    return {
        f"{prefix}point_x": np.asarray(xs, dtype=np.float64),
        f"{prefix}point_y": np.asarray(ys, dtype=np.float64),
    }


def _valley(
    evidence: Any, start: int, stop: int, lrs: FloatArray, smoothed: FloatArray, point: Any
) -> dict[str, Any]:
    max_start, max_end = evidence["stretch"]
    first = start + max(int(max_start), 0)  # -1: the whole window up to max_end falls
    last = start + int(max_end)
    index = int(evidence["index"])
    at = start + (index if index >= 0 else stop - start + index)
    view = _curve(lrs, smoothed, first, last)
    view |= _points([point[0]], [point[1]])
    view["caption"] = (
        f"valley: the longest falling stretch (batches {first + 1}–{last + 1}), "
        f"and the point it returns, batch {at + 1}"
    )
    return view


def _steep(
    evidence: Any, start: int, lrs: FloatArray, smoothed: FloatArray, centred: bool, point: Any
) -> dict[str, Any]:
    slope = np.asarray(evidence["slope"], dtype=np.float64)
    index = int(evidence["index"])
    at = start + index
    view = _curve(lrs, smoothed, at, min(at + 1, len(lrs) - 1))
    view |= _points([point[0]], [point[1]])
    log = "log10(lr)" if centred else "ln(lr)"
    view |= _panel(lrs[start : start + len(slope)], slope, f"slope: Δloss / Δ{log}")
    view |= _points([point[0]], [slope[index]], prefix="panel_")  # at the marker's x
    view["caption"] = f"steep: the most negative slope, at batch {at + 1} (panel below)"
    return view


def _slide(
    evidence: Any, start: int, lrs: FloatArray, smoothed: FloatArray, loss_span: float
) -> dict[str, Any]:
    left, right = (int(value) for value in evidence["window"])
    gradient = np.asarray(evidence["gradient"], dtype=np.float64)
    thresh = float(evidence["thresh"])
    first, last = start + max(left, 0), start + right
    view = _curve(lrs, smoothed, first, last)
    half = BRACKET_SHARE * loss_span
    ticks = [(first, smoothed[first]), (last, smoothed[last])]
    view["bracket_x"] = np.array([[lrs[i], lrs[i]] for i, _ in ticks])
    view["bracket_y"] = np.array([[y - half, y + half] for _, y in ticks])
    index = int(evidence.get("index", left))
    view |= _points([lrs[start + index]], [smoothed[start + index]])
    window_lrs = lrs[start : start + len(gradient)]
    view |= _panel(window_lrs, gradient, "gradient of the smoothed loss (per batch)")
    level = gradient[right]
    left_x, right_x = float(window_lrs[0]), float(window_lrs[-1])
    view["band_x"] = np.array([[left_x, right_x, right_x, left_x, left_x]])
    view["band_y"] = np.array([[level - thresh] * 2 + [level + thresh] * 2 + [level - thresh]])
    ends = [max(left, 0), right]
    view |= _points([window_lrs[i] for i in ends], [gradient[i] for i in ends], prefix="panel_")
    view["caption"] = (
        f"slide: walked left until the gradient stayed within ±{thresh:g} over "
        f"{int(evidence['lr_diff'])} points (batches {first + 1}–{last + 1})"
    )
    return view


def build_evidence(
    analysis: Analysis | None,
    rule: str,
    lrs: np.ndarray,
    color: str,
    loss_range: tuple[float, float] | None,
) -> EvidenceView:
    """What to draw for ``rule``'s construction on ``analysis`` (empty when there is none)."""
    result = None if analysis is None else analysis.rules.get(rule)
    if analysis is None or result is None or result.lr is None or not result.evidence:
        return EvidenceView()
    lrs = np.asarray(lrs, dtype=np.float64)[: analysis.sweep_length]
    smoothed = np.asarray(analysis.smoothed, dtype=np.float64)[: analysis.sweep_length]
    start, stop = analysis.window
    evidence = result.evidence
    span = (loss_range[1] - loss_range[0]) if loss_range is not None else 1.0
    try:
        if rule == "valley" and "stretch" in evidence:
            fields = _valley(evidence, start, stop, lrs, smoothed, result.point)
        elif rule == "steep" and "slope" in evidence:
            centred = analysis.smoothing == "centred"
            fields = _steep(evidence, start, lrs, smoothed, centred, result.point)
        elif rule == "slide" and "gradient" in evidence:
            fields = _slide(evidence, start, lrs, smoothed, span)
        else:
            return EvidenceView()
    except (IndexError, KeyError, TypeError, ValueError):
        return EvidenceView()  # a custom rule's evidence under a known name: nothing drawn
    return EvidenceView(rule=rule, color=color, **fields)
