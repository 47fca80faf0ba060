"""Earlier sweeps on the chart: what is drawn of each, as plain values (no widgets).

When a widget holds several sweeps (:attr:`lrwidget.LRFinderWidget.sweeps`), the current one is
drawn in full by :mod:`lrwidget._view` and every other shown sweep by this module: its smoothed
curve (lighter, a dash style of its own) and one point per shown rule, at the exact LR the rule
returns on that sweep, in the rule's colour and a marker shape of the sweep's own.  The legend
names each sweep by its label with the same dash and shape, so a point can always be traced to
its sweep.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrwidget._reduce import MAX_POINTS_PER_MARK, reduce_series
from lrwidget._style import SMOOTHED_COLOR, format_lr, rule_color
from lrwidget.analysis import Analysis
from lrwidget.compare import Spread
from lrwidget.sweep import Sweep

#: Dash style and marker shape of the n-th earlier sweep drawn (cycled): the current sweep is
#: the solid line with round points.  No upward triangle: at the top edge that is a raw loss
#: above the axis.
SWEEP_DASHES = ("dashed", "dotted", "dash_dotted")
SWEEP_MARKERS = ("square", "diamond", "triangle-down", "cross", "plus")
#: How strongly an earlier sweep's curve and points are drawn (the current one is 1).
EARLIER_OPACITY = 0.55
#: Legend samples: stroke-dasharray of each dash style (SVG), in the browser's own units.
_DASHARRAY = {"solid": "", "dashed": "6,4", "dotted": "2,3", "dash_dotted": "6,3,2,3"}

_FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def _empty() -> _FloatArray:
    return np.zeros(0, dtype=np.float64)


@dataclass(frozen=True)
class EarlierView:
    """One earlier sweep as drawn: its reduced smoothed curve and its rules' points."""

    curve_x: _FloatArray = field(default_factory=_empty)
    curve_y: _FloatArray = field(default_factory=_empty)
    point_x: _FloatArray = field(default_factory=_empty)
    point_y: _FloatArray = field(default_factory=_empty)
    point_colors: tuple[str, ...] = ()
    point_names: tuple[str, ...] = ()
    line_style: str = SWEEP_DASHES[0]
    marker: str = SWEEP_MARKERS[0]
    #: The loss range the chart must show of it: its analysed window's descent.
    value_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class Compared:
    """What a full redraw shows of the other sweeps: the current sweep's label, each earlier
    shown sweep's LR per rule (a readout column each), the repeats' spread per rule (None:
    the current sweep is no repeat), and the earlier sweeps' views."""

    label: str = ""
    columns: tuple[tuple[str, dict[str, float | None]], ...] = ()
    spreads: dict[str, Spread] | None = None
    views: tuple[EarlierView, ...] = ()

    @property
    def active(self) -> bool:
        """True when there is anything to compare with."""
        return bool(self.columns) or self.spreads is not None

    def cells(self, rule: str) -> list[str]:
        """The readout cells of ``rule``: one per earlier sweep, then the repeats' spread."""
        cells = []
        for label, lrs in self.columns:
            lr = lrs.get(rule)
            text = "—" if lr is None else format_lr(lr)
            cells.append(
                f'<td class="lrw-compare-cell" data-sweep="{html.escape(label)}" '
                f'data-lr="{"" if lr is None else repr(lr)}" style="{_NUMBER_CELL}">{text}</td>'
            )
        if self.spreads is not None and rule in self.spreads:
            cells.append(
                f'<td class="lrw-spread-cell" style="{_NUMBER_CELL}">'
                f"{spread_cell(self.spreads[rule])}</td>"
            )
        return cells


_NUMBER_CELL = (
    "padding:2px 12px 2px 4px;text-align:right;vertical-align:top;white-space:nowrap;"
    "font-variant-numeric:tabular-nums;opacity:0.85"
)


def style_of(slot: int) -> tuple[str, str]:
    """The dash style and marker shape of the ``slot``-th earlier sweep drawn."""
    return SWEEP_DASHES[slot % len(SWEEP_DASHES)], SWEEP_MARKERS[slot % len(SWEEP_MARKERS)]


def earlier_view(
    slot: int,
    sweep: Sweep,
    analysis: Analysis | None,
    shown_rules: Sequence[str],
    rule_order: Sequence[str],
) -> EarlierView:
    """What the chart draws of one earlier sweep (``slot`` counts the earlier sweeps drawn)."""
    dash, marker = style_of(slot)
    if analysis is None:
        return EarlierView(line_style=dash, marker=marker)
    count = analysis.sweep_length
    lrs = np.asarray(sweep.lrs[:count], dtype=np.float64)
    curve = np.asarray(analysis.smoothed[:count], dtype=np.float64)
    if len(lrs) > MAX_POINTS_PER_MARK:
        kept = reduce_series(lrs, curve)
        lrs_shown, curve_shown = lrs[kept], curve[kept]
    else:
        lrs_shown, curve_shown = lrs, curve
    finite = np.isfinite(curve_shown)
    first, stop = analysis.window
    descent = curve[first:stop]
    descent = descent[np.isfinite(descent)]
    value_range = None
    if len(descent):
        lowest = int(np.argmin(descent))
        value_range = (float(descent.min()), float(descent[: lowest + 1].max()))
    names, xs, ys, colors = [], [], [], []
    for name in rule_order:
        result = analysis.rules.get(name)
        if name not in shown_rules or result is None or result.lr is None:
            continue
        lr = float(result.lr)
        names.append(name)
        xs.append(lr)
        ys.append(_curve_at(lrs, curve, lr))
        colors.append(rule_color(name, rule_order))
    return EarlierView(
        curve_x=lrs_shown[finite],
        curve_y=curve_shown[finite],
        point_x=np.array(xs, dtype=np.float64),
        point_y=np.array(ys, dtype=np.float64),
        point_colors=tuple(colors),
        point_names=tuple(names),
        line_style=dash,
        marker=marker,
        value_range=value_range,
    )


def _curve_at(lrs: _FloatArray, curve: _FloatArray, lr: float) -> float:
    """The curve's value at the recorded LR nearest ``lr`` in log scale (a rule's LR is one of
    the recorded LRs, except minimum's, a decade left of one: it sits on the curve there)."""
    if len(lrs) == 0:
        return math.nan
    index = int(np.argmin(np.abs(np.log(lrs) - math.log(lr))))
    return float(curve[index])


def widened_range(
    loss_range: tuple[float, float] | None, views: Sequence[EarlierView]
) -> tuple[float, float] | None:
    """``loss_range`` widened so that every earlier sweep's descent shows too (padded by
    5% of the span on a side that moved); unchanged when they fit already."""
    ranges = [view.value_range for view in views if view.value_range is not None]
    if not ranges:
        return loss_range
    low = min(value[0] for value in ranges)
    high = max(value[1] for value in ranges)
    if loss_range is None:
        pad = 0.05 * (high - low) if high > low else 0.05 * abs(high) or 0.05
        return low - pad, high + pad
    new_low, new_high = min(loss_range[0], low), max(loss_range[1], high)
    pad = 0.05 * (new_high - new_low)
    new_low = new_low - pad if new_low < loss_range[0] else new_low
    new_high = new_high + pad if new_high > loss_range[1] else new_high
    return (new_low, new_high) if (new_low, new_high) != loss_range else loss_range


def union_range(sweeps: Sequence[Sweep]) -> tuple[float, float]:
    """The LR axis shared by ``sweeps``: from the lowest start to the highest end (each sweep's
    schedule, widened by any recorded LR outside it)."""
    lows, highs = [], []
    for sweep in sweeps:
        lrs = np.asarray(sweep.lrs, dtype=np.float64)
        lrs = lrs[np.isfinite(lrs) & (lrs > 0)]
        lows += [sweep.start_lr, *([lrs.min()] if len(lrs) else [])]
        highs += [sweep.end_lr, *([lrs.max()] if len(lrs) else [])]
    finite_lows = [value for value in lows if math.isfinite(value) and value > 0]
    finite_highs = [value for value in highs if math.isfinite(value) and value > 0]
    return min(finite_lows), max(finite_highs)


def legend_html(entries: Sequence[tuple[str, str, str, bool]]) -> str:
    """The legend: per drawn sweep ``(label, dash style, marker shape, is current)``, a sample
    of its line and point, then its label; the current sweep's label is bold."""
    if len(entries) < 2:
        return ""
    items = []
    for label, dash, marker, current in entries:
        dasharray = _DASHARRAY.get(dash, "")
        opacity = 1.0 if current else EARLIER_OPACITY
        sample = (
            f'<svg width="34" height="12" aria-hidden="true" style="vertical-align:middle">'
            f'<line x1="1" y1="6" x2="33" y2="6" stroke="{SMOOTHED_COLOR}" stroke-width="2.5" '
            f'stroke-dasharray="{dasharray}" opacity="{opacity}"/>'
            f"{_marker_svg(marker, 17, 6)}</svg>"
        )
        name = html.escape(label)
        text = f"<b>{name}</b> (current)" if current else name
        items.append(
            f'<span class="lrw-legend-item" data-label="{name}" '
            f'style="white-space:nowrap;margin-right:14px">{sample} {text}</span>'
        )
    return f'<div class="lrw-legend" style="line-height:1.8">{"".join(items)}</div>'


def _marker_svg(marker: str, x: float, y: float) -> str:
    """A small grey sample of a bqplot marker shape (the rule colours go on the chart)."""
    color = "var(--jp-ui-font-color1, #444)"
    if marker == "circle":
        return f'<circle cx="{x}" cy="{y}" r="3.5" fill="{color}"/>'
    if marker == "square":
        return f'<rect x="{x - 3.5}" y="{y - 3.5}" width="7" height="7" fill="{color}"/>'
    if marker == "diamond":
        path = f"M{x},{y - 4.5} L{x + 4},{y} L{x},{y + 4.5} L{x - 4},{y} Z"
    elif marker == "triangle-down":
        path = f"M{x - 4},{y - 3.5} L{x + 4},{y - 3.5} L{x},{y + 3.5} Z"
    else:  # cross, plus: two strokes
        return (
            f'<path d="M{x - 4},{y} L{x + 4},{y} M{x},{y - 4} L{x},{y + 4}" stroke="{color}" '
            f'stroke-width="2.5"/>'
        )
    return f'<path d="{path}" fill="{color}"/>'


def spread_cell(spread: Spread) -> str:
    """The readout's repeats cell of one rule: the log10 mean, the range, and a flag when the
    repeats disagree by more than a decade."""
    if spread.mean_lr is None or spread.low is None or spread.high is None:
        return "no answer in any repeat"
    text = f"{format_lr(spread.mean_lr)} ({format_lr(spread.low)} – {format_lr(spread.high)})"
    if spread.count < 2:
        return text
    text += f", ×{spread.count}"
    if spread.unreliable:
        text += (
            f' <span class="lrw-unreliable" style="color:var(--jp-error-color1, #c62828)">'
            f"unreliable: {spread.decades or 0:.1f} decades apart</span>"
        )
    return text
