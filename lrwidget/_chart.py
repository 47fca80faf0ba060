"""The bqplot figure of the learning-rate widget.

The figure is built once (:class:`LossChart`); every redraw goes through
:meth:`LossChart.changes`, which receives a :class:`ChartView` — plain arrays computed by the
pure function :func:`build_view` from the raw sweep and an :class:`~lrwidget.analysis.Analysis` —
and lists new arrays only for the marks whose data changed; :meth:`LossChart.send` then
assigns them, each mark's traits in one message (``with mark.hold_sync():``), so a redraw's
cost in messages is known before it is sent.  Arrays are always fresh objects: an array handed to a
mark is never written again.

Marks, bottom to top (all share the log-scale LR axis):

* ``shading`` – one multi-path ``Lines`` filling the excluded spans (unit y scale);
* ``span_labels`` – a ``Label`` naming each excluded span other than the skipped ends (the
  skip handles carry those names);
* ``raw`` – the raw losses, the only ``Scatter`` with a small ``default_size``;
* ``smoothed`` – the smoothed loss, a ``Lines``;
* ``markers`` – one multi-line ``Lines`` holding a vertical line per rule, at exactly the LR
  the rule returns;
* ``highlight`` – a wide translucent vertical line at the selected LR;
* ``minimum_link`` – a horizontal dashed connector at the true minimum's loss, from the true
  minimum (right end) to its LR ÷ 10, the returned minimum (left end, one decade to the left);
* ``points`` – a ``Scatter`` of every rule's plotted point (and the returned minimum);
* ``labels`` / ``labels_left`` – a ``Label`` text per marker, e.g. ``"valley 1.23e-03"``,
  drawn right of its line, or left of it (``labels_left``) when the line is in the right
  quarter of the axis so the text stays inside the plot;
* ``minimum_label`` – ``"lowest loss 1.74e-01 (← ÷10)"`` under the minimum connector;
* ``divergence_line`` / ``divergence_handle`` – the divergence threshold, draggable in y;
* ``handles`` – ``Scatter(enable_move=True, restrict_x=True)``: the skip-start and skip-end
  cut-offs, draggable in x;
* ``pick`` – a ``Scatter`` with ``interactions={"click": "add"}``: a click on the chart's
  background adds a point there, which the widget turns into the custom LR.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import bqplot
import numpy as np

if TYPE_CHECKING:
    from lrwidget.analysis import Analysis

RULE_COLORS: dict[str, str] = {
    "minimum": "#d62728",
    "steep": "#ff7f0e",
    "valley": "#2ca02c",
    "slide": "#9467bd",
}
_EXTRA_COLORS = ("#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
# Every colour below must read on JupyterLab's light and dark backgrounds alike (bqplot
# follows the theme; mark colours do not): mid-bright hues, no near-black or near-white.
CUSTOM_COLOR = "#708090"
SPAN_COLORS: dict[str, str] = {
    "skip start": "#8c8c8c",
    "skip end": "#8c8c8c",
    "diverged": "#d62728",
    "NaN": "#9467bd",
}
SPAN_FILL_OPACITY = 0.18
#: Spans named by the skip handles themselves; a span label would repeat the name.
_HANDLE_NAMED_SPANS = frozenset({"skip start", "skip end"})
SPAN_LABEL_COLOR = "#8c8c8c"
HANDLE_COLOR = "#8c8c8c"
RAW_COLOR = "#8dbbe6"
SMOOTHED_COLOR = "#2f83d4"
#: The raw-loss Scatter is the only Scatter with a size this small (browser tests rely on it).
RAW_POINT_SIZE = 9
HANDLE_SIZE = 140
_HANDLE_Y = 0.03
_PICK_Y = 0.5
_LABEL_TOP = 0.965
_LABEL_STEP = 0.055
# A label whose line lies beyond this fraction of the (log) axis is drawn left of the line.
_LABEL_FLIP_FRACTION = 0.75
# Half the height of a label row, in axis fractions: the data stays below the lowest row.
_LABEL_CLEARANCE = 0.04
_SPAN_LABEL_Y = 0.12
_RANGE_PAD_BOTTOM = 0.1
_RANGE_PAD_TOP = 0.05
# How far above the descent the rise after the minimum may stretch the range, as a share of
# the descent's height.
_RISE_SHARE = 0.3
# The lowest-loss caption sits below and right of the true minimum, where the curve (rising on
# both sides of its minimum) leaves room; flipped to below-left near the right edge.
_CAPTION_OFFSET = (8, 16)
# The caption is about 170 px wide: a fifth of a typical notebook-wide plot.
_CAPTION_FLIP_FRACTION = 0.8

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

#: One widget's pending update: the widget and the traits to assign (one comm message).
Change = tuple[Any, dict[str, Any]]

#: The marks a light streamed update redraws: the measured points and the smoothed line.
STREAM_MARKS: frozenset[str] = frozenset({"raw", "smoothed"})


def rule_color(name: str, order: Sequence[str]) -> str:
    """The colour of a rule: fixed for fastai's four, cycled for custom rules."""
    if name in RULE_COLORS:
        return RULE_COLORS[name]
    extras = [other for other in order if other not in RULE_COLORS]
    index = extras.index(name) if name in extras else 0
    return _EXTRA_COLORS[index % len(_EXTRA_COLORS)]


def format_lr(lr: float) -> str:
    """An LR with 3 significant digits, as the chart and the readout show it: ``1.23e-03``."""
    return f"{lr:.2e}"


def _empty() -> FloatArray:
    return np.zeros(0, dtype=np.float64)


@dataclass(frozen=True)
class ChartView:
    """Everything the chart shows, as plain arrays; a pure function of (sweep, settings).

    Two-dimensional arrays hold one row per path of a multi-path ``Lines`` mark.
    """

    raw_x: FloatArray = field(default_factory=_empty)
    raw_y: FloatArray = field(default_factory=_empty)
    smoothed_x: FloatArray = field(default_factory=_empty)
    smoothed_y: FloatArray = field(default_factory=_empty)
    shading_x: FloatArray = field(default_factory=_empty)
    shading_y: FloatArray = field(default_factory=_empty)
    shading_colors: tuple[str, ...] = ()
    span_label_x: FloatArray = field(default_factory=_empty)
    span_label_y: FloatArray = field(default_factory=_empty)
    span_label_text: tuple[str, ...] = ()
    marker_names: tuple[str, ...] = ()
    marker_x: FloatArray = field(default_factory=_empty)
    marker_y: FloatArray = field(default_factory=_empty)
    marker_colors: tuple[str, ...] = ()
    label_x: FloatArray = field(default_factory=_empty)
    label_y: FloatArray = field(default_factory=_empty)
    label_text: tuple[str, ...] = ()
    label_colors: tuple[str, ...] = ()
    label_left_x: FloatArray = field(default_factory=_empty)
    label_left_y: FloatArray = field(default_factory=_empty)
    label_left_text: tuple[str, ...] = ()
    label_left_colors: tuple[str, ...] = ()
    minimum_label_x: FloatArray = field(default_factory=_empty)
    minimum_label_y: FloatArray = field(default_factory=_empty)
    minimum_label_text: tuple[str, ...] = ()
    minimum_label_align: str = "start"
    minimum_label_x_offset: int = _CAPTION_OFFSET[0]
    point_x: FloatArray = field(default_factory=_empty)
    point_y: FloatArray = field(default_factory=_empty)
    point_colors: tuple[str, ...] = ()
    link_x: FloatArray = field(default_factory=_empty)
    link_y: FloatArray = field(default_factory=_empty)
    highlight_x: FloatArray = field(default_factory=_empty)
    highlight_y: FloatArray = field(default_factory=_empty)
    highlight_color: str = CUSTOM_COLOR
    handle_x: FloatArray = field(default_factory=_empty)
    handle_y: FloatArray = field(default_factory=_empty)
    divergence_x: FloatArray = field(default_factory=_empty)
    divergence_y: FloatArray = field(default_factory=_empty)
    divergence_handle_x: FloatArray = field(default_factory=_empty)
    divergence_handle_y: FloatArray = field(default_factory=_empty)
    pick_x: FloatArray = field(default_factory=_empty)
    pick_y: FloatArray = field(default_factory=_empty)
    loss_range: tuple[float, float] | None = None


def stream_view(
    view: ChartView, lrs: np.ndarray, losses: np.ndarray, smoothed: np.ndarray
) -> ChartView:
    """``view`` with only the raw points and the smoothed line replaced (fresh arrays).

    A light streamed update draws this with ``only=STREAM_MARKS``: the rest of ``view``
    (the last full redraw) is not sent again.
    """
    x = np.array(lrs, dtype=np.float64)
    return dataclasses.replace(
        view,
        raw_x=x,
        raw_y=np.array(losses, dtype=np.float64),
        smoothed_x=x.copy(),
        smoothed_y=np.array(smoothed, dtype=np.float64),
    )


def boundary_lrs(lrs: np.ndarray, count: int, start_lr: float, end_lr: float) -> FloatArray:
    """The LR drawn for each index boundary 0..count (the edge between point i-1 and point i).

    Between two recorded points: their geometric mean.  Outside the recorded points (or with
    none): the exponential schedule at i - 1/2, clipped to [start_lr, end_lr].  ``count`` is
    the number of points (``len(lrs)``) or, with no points, the number requested.
    """
    indices = np.arange(count + 1, dtype=np.float64)
    recorded = len(lrs)
    schedule_span = max(count, 1)
    ratio = end_lr / start_lr
    schedule = start_lr * ratio ** ((indices - 0.5) / schedule_span)
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


def divergence_reference(analysis: Analysis) -> float | None:
    """The loss the divergence threshold multiplies: the lowest finite smoothed loss before
    the cut (the running minimum at the point of divergence)."""
    smoothed = np.asarray(analysis.smoothed, dtype=np.float64)
    end = analysis.divergence_index if analysis.divergence_index is not None else len(smoothed)
    head = smoothed[:end]
    finite = head[np.isfinite(head)]
    if len(finite) == 0:
        return None
    return float(finite.min())


def build_view(
    *,
    lrs: np.ndarray,
    losses: np.ndarray,
    analysis: Analysis | None,
    shown: Sequence[str],
    rule_order: Sequence[str],
    selected_lr: float | None,
    selected_color: str,
    custom_lr: float | None,
    num_it: int,
    start_lr: float,
    end_lr: float,
    skip_start: int,
    skip_end: int,
    div_threshold: float | None,
) -> ChartView:
    """Compute every array the chart shows.  Pure: no widget is touched.

    ``lrs``/``losses`` are the raw record; ``analysis`` the result of ``analyze`` on it (None
    while there is nothing to analyse); ``shown`` the rules to draw.
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    count = len(lrs)
    extent = count if count else num_it
    boundaries = boundary_lrs(lrs, extent, start_lr, end_lr)

    def boundary(index: int) -> float:
        return float(boundaries[min(max(index, 0), extent)])

    # Cut-off handles, in index space so they show before the first point arrives.
    handle_x = np.array([boundary(skip_start), boundary(extent - skip_end)], dtype=np.float64)
    handle_y = np.full(2, _HANDLE_Y)
    view: dict[str, Any] = {
        "raw_x": lrs.copy(),
        "raw_y": losses.copy(),
        "handle_x": handle_x,
        "handle_y": handle_y,
    }
    if custom_lr is not None:
        view["pick_x"] = np.array([custom_lr], dtype=np.float64)
        view["pick_y"] = np.array([_PICK_Y])
    if selected_lr is not None and math.isfinite(selected_lr):
        view["highlight_x"] = np.array([selected_lr, selected_lr], dtype=np.float64)
        view["highlight_y"] = np.array([0.0, 1.0])
        view["highlight_color"] = selected_color
    if analysis is None:
        return ChartView(**view)

    smoothed = np.asarray(analysis.smoothed, dtype=np.float64)[:count]
    view["smoothed_x"] = lrs.copy()
    view["smoothed_y"] = smoothed.copy()

    # Excluded spans: one closed rectangle per span, full height (unit y scale).
    rectangles_x, rectangles_y, colors = [], [], []
    label_x, label_text = [], []
    for first, stop, label in analysis.excluded_spans:
        if stop <= first:
            continue
        left = boundary(first)
        right = end_lr if stop >= count else boundary(stop)
        rectangles_x.append([left, right, right, left, left])
        rectangles_y.append([0.0, 0.0, 1.0, 1.0, 0.0])
        colors.append(SPAN_COLORS.get(label, "#8c8c8c"))
        if label not in _HANDLE_NAMED_SPANS:
            label_x.append(math.sqrt(left * right))
            label_text.append(label)
    if rectangles_x:
        view["shading_x"] = np.array(rectangles_x, dtype=np.float64)
        view["shading_y"] = np.array(rectangles_y, dtype=np.float64)
        view["shading_colors"] = tuple(colors)
    if label_x:
        view["span_label_x"] = np.array(label_x, dtype=np.float64)
        view["span_label_y"] = np.full(len(label_x), _SPAN_LABEL_Y)
        view["span_label_text"] = tuple(label_text)

    # One vertical marker, one label and one point per shown rule that answered.
    names: list[str] = []
    marker_x: list[float] = []
    marker_colors: list[str] = []
    # Labels right of their line (index 0) and left of it (index 1): x, y, text, colour.
    sides: tuple[_LabelRows, _LabelRows] = (_LabelRows(), _LabelRows())
    points_x, points_y, points_colors = [], [], []
    for name, result in analysis.rules.items():
        if name not in shown or result.lr is None:
            continue
        color = rule_color(name, rule_order)
        lr = float(result.lr)
        row = len(names)
        names.append(name)
        marker_x.append(lr)
        marker_colors.append(color)
        flipped = _axis_fraction(lr, start_lr, end_lr) > _LABEL_FLIP_FRACTION
        sides[int(flipped)].add(
            lr, _LABEL_TOP - _LABEL_STEP * row, f"{name} {format_lr(lr)}", color
        )
        if result.point is not None:
            points_x.append(float(result.point[0]))
            points_y.append(float(result.point[1]))
            points_colors.append(color)
        returned = result.returned_point
        if name == "minimum" and result.point is not None and returned is not None:
            # The exact confusion users hit: the lowest loss is a decade right of the number.
            # A level connector from the true minimum (right) to its LR / 10 (left) says so.
            lowest_lr, lowest_loss = float(result.point[0]), float(result.point[1])
            points_x.append(float(returned[0]))
            points_y.append(float(returned[1]))
            points_colors.append(color)
            view["link_x"] = np.array([lowest_lr, returned[0]], dtype=np.float64)
            view["link_y"] = np.array([lowest_loss, lowest_loss], dtype=np.float64)
            near_right = _axis_fraction(lowest_lr, start_lr, end_lr) > _CAPTION_FLIP_FRACTION
            view["minimum_label_x"] = np.array([lowest_lr])
            view["minimum_label_y"] = np.array([lowest_loss])
            view["minimum_label_text"] = (f"lowest loss {format_lr(lowest_lr)} (← ÷10)",)
            view["minimum_label_align"] = "end" if near_right else "start"
            view["minimum_label_x_offset"] = (
                -_CAPTION_OFFSET[0] if near_right else _CAPTION_OFFSET[0]
            )
    if names:
        view["marker_names"] = tuple(names)
        view["marker_x"] = np.repeat(np.array(marker_x, dtype=np.float64)[:, None], 2, axis=1)
        view["marker_y"] = np.tile(np.array([0.0, 1.0]), (len(names), 1))
        view["marker_colors"] = tuple(marker_colors)
        for prefix, rows in zip(("label", "label_left"), sides, strict=True):
            if rows.text:
                view[f"{prefix}_x"] = np.array(rows.x, dtype=np.float64)
                view[f"{prefix}_y"] = np.array(rows.y, dtype=np.float64)
                view[f"{prefix}_text"] = tuple(rows.text)
                view[f"{prefix}_colors"] = tuple(rows.colors)
    if points_x:
        view["point_x"] = np.array(points_x, dtype=np.float64)
        view["point_y"] = np.array(points_y, dtype=np.float64)
        view["point_colors"] = tuple(points_colors)

    # Keep the data below the label rows: the lowest row's centre, less half a row.
    data_top = _LABEL_TOP - _LABEL_STEP * max(len(names) - 1, 0) - _LABEL_CLEARANCE
    reference = divergence_reference(analysis)
    level = (
        div_threshold * reference if div_threshold is not None and reference is not None else None
    )
    view["loss_range"] = _loss_range(losses, smoothed, analysis.window, data_top, level)
    if level is not None:
        view["divergence_x"] = np.array([start_lr, end_lr], dtype=np.float64)
        view["divergence_y"] = np.array([level, level], dtype=np.float64)
        handle_lr = float(lrs[-1]) if count else end_lr
        view["divergence_handle_x"] = np.array([handle_lr], dtype=np.float64)
        view["divergence_handle_y"] = np.array([level], dtype=np.float64)
    return ChartView(**view)


@dataclass
class _LabelRows:
    """Label texts being collected for one ``Label`` mark."""

    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    colors: list[str] = field(default_factory=list)

    def add(self, x: float, y: float, text: str, color: str) -> None:
        self.x.append(x)
        self.y.append(y)
        self.text.append(text)
        self.colors.append(color)


def _axis_fraction(lr: float, start_lr: float, end_lr: float) -> float:
    """Where ``lr`` lies along the log axis: 0 at ``start_lr``, 1 at ``end_lr``."""
    if not math.isfinite(lr) or lr <= 0 or end_lr <= start_lr:
        return 0.0
    return math.log(lr / start_lr) / math.log(end_lr / start_lr)


def _loss_range(
    losses: np.ndarray,
    smoothed: np.ndarray,
    window: tuple[int, int],
    data_top: float = 1.0,
    divergence_level: float | None = None,
) -> tuple[float, float] | None:
    """The y range: every finite raw and smoothed loss of the analysed window, padded.

    The descent (window start to the lowest smoothed loss) is always shown in full, raw dots
    included.  What rises after the minimum may add at most 0.3 of the descent's height,
    so a divergence blow-up inside the window cannot flatten the part users read.  Points
    outside the window may fall off the chart.  ``data_top`` (a fraction of the plot height)
    leaves room above the data for the rule labels.  The divergence threshold line (and its
    drag handle) is included when it lies within that cap.
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
            high = min(high, cap)
            if divergence_level is not None and high < divergence_level <= cap:
                high = divergence_level
    span = high - low if high > low else max(abs(high) * 0.05, 1e-6)
    bottom = low - span * _RANGE_PAD_BOTTOM
    data_height = span * (1.0 + _RANGE_PAD_BOTTOM + _RANGE_PAD_TOP)
    top = bottom + data_height / min(max(data_top, 0.5), 1.0)
    return (bottom, top)


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, np.ndarray) or isinstance(new, np.ndarray):
        old_array = np.asarray(old) if old is not None else None
        new_array = np.asarray(new) if new is not None else None
        if old_array is None or new_array is None:
            return old_array is new_array
        if old_array.shape != new_array.shape:
            return False
        if old_array.dtype.kind == "f" and new_array.dtype.kind == "f":
            return bool(np.array_equal(old_array, new_array, equal_nan=True))
        return bool(np.array_equal(old_array, new_array))
    return bool(old == new)


class LossChart:
    """The figure: built once, redrawn in place by :meth:`changes` and :meth:`send`.

    Args:
        start_lr, end_lr: The fixed range of the log-scale LR axis.
    """

    def __init__(self, start_lr: float, end_lr: float) -> None:
        self.x_scale = bqplot.LogScale(min=start_lr, max=end_lr, allow_padding=False)
        self.loss_scale = bqplot.LinearScale()
        self.unit_scale = bqplot.LinearScale(min=0.0, max=1.0, allow_padding=False)
        loss_scales = {"x": self.x_scale, "y": self.loss_scale}
        unit_scales = {"x": self.x_scale, "y": self.unit_scale}
        decades = np.arange(math.ceil(math.log10(start_lr)), math.floor(math.log10(end_lr)) + 1)
        tick_values = 10.0**decades if len(decades) >= 2 else None
        self.x_axis = bqplot.Axis(
            scale=self.x_scale,
            label="learning rate (log scale)",
            tick_format=".0e",
            tick_values=tick_values,
            grid_lines="dashed",
        )
        self.y_axis = bqplot.Axis(
            scale=self.loss_scale,
            side="left",
            # No legend (it covered the labels): the axis says which mark is which.
            label="loss (dots: raw, line: smoothed)",
            tick_format=".3g",
            grid_lines="dashed",
        )
        self.shading = bqplot.Lines(
            scales=unit_scales,
            fill="inside",
            close_path=True,
            stroke_width=0.0,
            colors=["#8c8c8c"],
            fill_colors=["#8c8c8c"],
            # One entry per path (at most one per span kind); `opacities` would fade the fill.
            fill_opacities=[SPAN_FILL_OPACITY] * 8,
            opacities=[1.0] * 8,
            enable_hover=False,
            interactions={},
        )
        self.span_labels = bqplot.Label(
            scales=unit_scales,
            colors=[SPAN_LABEL_COLOR],
            default_size=11.0,
            font_weight="normal",
            align="middle",
            enable_hover=False,
            interactions={},
        )
        self.raw = bqplot.Scatter(
            scales=loss_scales,
            colors=[RAW_COLOR],
            default_size=RAW_POINT_SIZE,
            stroke=None,
            opacities=[0.8],
            enable_hover=False,
            interactions={},
        )
        self.smoothed = bqplot.Lines(
            scales=loss_scales,
            colors=[SMOOTHED_COLOR],
            stroke_width=2.5,
            enable_hover=False,
            interactions={},
        )
        self.markers = bqplot.Lines(
            scales=unit_scales,
            stroke_width=1.5,
            colors=list(RULE_COLORS.values()),
            enable_hover=False,
            interactions={},
        )
        self.highlight = bqplot.Lines(
            scales=unit_scales,
            stroke_width=9.0,
            colors=[CUSTOM_COLOR],
            opacities=[0.22],
            enable_hover=False,
            interactions={},
        )
        self.minimum_link = bqplot.Lines(
            scales=loss_scales,
            colors=[RULE_COLORS["minimum"]],
            line_style="dashed",
            stroke_width=2.0,
            enable_hover=False,
            interactions={},
        )
        self.points = bqplot.Scatter(
            scales=loss_scales,
            colors=list(RULE_COLORS.values()),
            default_size=90,
            stroke="white",
            enable_hover=False,
            interactions={},
        )
        self.labels = bqplot.Label(
            scales=unit_scales,
            colors=list(RULE_COLORS.values()),
            default_size=12.0,
            font_weight="bold",
            align="start",
            x_offset=4,
            enable_hover=False,
            interactions={},
        )
        self.labels_left = bqplot.Label(
            scales=unit_scales,
            colors=list(RULE_COLORS.values()),
            default_size=12.0,
            font_weight="bold",
            align="end",
            x_offset=-4,
            enable_hover=False,
            interactions={},
        )
        self.minimum_label = bqplot.Label(
            scales=loss_scales,
            colors=[RULE_COLORS["minimum"]],
            default_size=12.0,
            font_weight="bold",
            align="start",
            x_offset=_CAPTION_OFFSET[0],
            y_offset=_CAPTION_OFFSET[1],
            enable_hover=False,
            interactions={},
        )
        self.divergence_line = bqplot.Lines(
            scales=loss_scales,
            colors=[SPAN_COLORS["diverged"]],
            line_style="dotted",
            stroke_width=1.5,
            enable_hover=False,
            interactions={},
        )
        self.divergence_handle = bqplot.Scatter(
            scales=loss_scales,
            colors=[SPAN_COLORS["diverged"]],
            marker="diamond",
            default_size=HANDLE_SIZE,
            enable_move=True,
            restrict_y=True,
            names=["divergence"],
            display_names=False,
            enable_hover=False,
            interactions={},
        )
        self.handles = bqplot.Scatter(
            x=np.array([start_lr, end_lr]),
            y=np.full(2, _HANDLE_Y),
            scales=unit_scales,
            colors=[HANDLE_COLOR],
            marker="triangle-up",
            default_size=HANDLE_SIZE,
            enable_move=True,
            restrict_x=True,
            names=np.array(["skip start", "skip end"]),
            display_names=True,
            enable_hover=False,
            interactions={},
        )
        self.pick = bqplot.Scatter(
            scales=unit_scales,
            colors=[CUSTOM_COLOR],
            marker="cross",
            default_size=HANDLE_SIZE,
            enable_move=True,
            restrict_x=True,
            enable_hover=False,
            interactions={"click": "add"},
        )
        self.figure = bqplot.Figure(
            marks=[
                self.shading,
                self.span_labels,
                self.raw,
                self.smoothed,
                self.markers,
                self.highlight,
                self.minimum_link,
                self.points,
                self.labels,
                self.labels_left,
                self.minimum_label,
                self.divergence_line,
                self.divergence_handle,
                self.handles,
                self.pick,
            ],
            axes=[self.x_axis, self.y_axis],
            animation_duration=0,
            fig_margin={"top": 20, "bottom": 50, "left": 65, "right": 20},
            min_aspect_ratio=0.01,
            layout={"width": "100%", "height": "420px"},
        )
        self.figure.add_class("lrw-figure")
        #: True while :meth:`send` assigns traits (observers ignore their own echoes).
        self.drawing = False

    # Each entry: mark, {trait: view attribute}.  Lists of colours are converted to lists.
    def _plan(self) -> list[tuple[str, dict[str, str]]]:
        return [
            ("shading", {"x": "shading_x", "y": "shading_y", "fill_colors": "shading_colors"}),
            (
                "span_labels",
                {"x": "span_label_x", "y": "span_label_y", "text": "span_label_text"},
            ),
            ("raw", {"x": "raw_x", "y": "raw_y"}),
            ("smoothed", {"x": "smoothed_x", "y": "smoothed_y"}),
            ("markers", {"x": "marker_x", "y": "marker_y", "colors": "marker_colors"}),
            ("highlight", {"x": "highlight_x", "y": "highlight_y", "colors": "highlight_color"}),
            ("minimum_link", {"x": "link_x", "y": "link_y"}),
            ("points", {"x": "point_x", "y": "point_y", "colors": "point_colors"}),
            (
                "labels",
                {"x": "label_x", "y": "label_y", "text": "label_text", "colors": "label_colors"},
            ),
            (
                "labels_left",
                {
                    "x": "label_left_x",
                    "y": "label_left_y",
                    "text": "label_left_text",
                    "colors": "label_left_colors",
                },
            ),
            (
                "minimum_label",
                {
                    "x": "minimum_label_x",
                    "y": "minimum_label_y",
                    "text": "minimum_label_text",
                    "align": "minimum_label_align",
                    "x_offset": "minimum_label_x_offset",
                },
            ),
            ("divergence_line", {"x": "divergence_x", "y": "divergence_y"}),
            (
                "divergence_handle",
                {"x": "divergence_handle_x", "y": "divergence_handle_y"},
            ),
            ("handles", {"x": "handle_x", "y": "handle_y"}),
            ("pick", {"x": "pick_x", "y": "pick_y"}),
        ]

    def changes(self, view: ChartView, *, only: Collection[str] | None = None) -> list[Change]:
        """What assigning ``view`` would change: one ``(widget, {trait: value})`` per widget.

        Only marks whose data differ are listed; sending each entry under ``hold_sync`` is one
        comm message, so ``len(changes)`` is what a redraw costs before anything is sent.  With
        ``only`` (mark names, e.g. :data:`STREAM_MARKS`) the other marks and the loss scale are
        left out.
        """
        pending: list[Change] = []
        for name, traits in self._plan():
            if only is not None and name not in only:
                continue
            mark = getattr(self, name)
            changed = {}
            for trait, attribute in traits.items():
                value = _trait_value(trait, getattr(view, attribute))
                if not _same(getattr(mark, trait), value):
                    changed[trait] = value
            if changed:
                pending.append((mark, changed))
        if only is None:
            low, high = view.loss_range if view.loss_range is not None else (None, None)
            if self.loss_scale.min != low or self.loss_scale.max != high:
                pending.append((self.loss_scale, {"min": low, "max": high}))
        return pending

    def send(self, pending: Sequence[Change]) -> int:
        """Assign :meth:`changes` (any widget's, in fact): one message per entry.

        :attr:`drawing` is True meanwhile, so observers can ignore their own echoes.
        Returns the number of messages sent.
        """
        if not pending:
            return 0
        self.drawing = True
        try:
            for widget, traits in pending:
                with widget.hold_sync():
                    for trait, value in traits.items():
                        setattr(widget, trait, value)
        finally:
            self.drawing = False
        return len(pending)


def _trait_value(trait: str, value: Any) -> Any:
    if trait == "text":
        return np.array(value, dtype=object) if len(value) else None
    if trait in ("colors", "fill_colors"):
        if isinstance(value, str):
            return [value]
        return list(value) if value else ["#7f7f7f"]
    return value


def marker_positions(view: ChartView) -> Mapping[str, float]:
    """Rule name -> x of its vertical marker, as drawn."""
    return {name: float(view.marker_x[row, 0]) for row, name in enumerate(view.marker_names)}
