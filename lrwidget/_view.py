"""What the learning-rate chart shows, as plain arrays: pure numpy, no widget.

:func:`build_view` turns the raw sweep, its :class:`~lrwidget.analysis.Analysis` and the
widget's settings into a :class:`ChartView` (one group of arrays per mark of
:class:`lrwidget._chart.LossChart`), one small builder per layer; :func:`stream_view` swaps in
only the streamed points.  Also here: the colours, label placement, the loss range, and the LR
of each index boundary (:func:`boundary_lrs`).  Imports no bqplot, ipywidgets, traitlets, torch
or fastai.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from lrwidget._shown_points import PointsMemo, shown_indices, take
from lrwidget._style import CUSTOM_COLOR, SPAN_COLORS, format_lr, rule_color, text_color
from lrwidget._view_layout import (
    LABEL_GAP,
    LABEL_STEP,
    LABEL_TOP,
    PLOT_WIDTH,
    axis_fraction,
    label_width,
    loss_range,
    loss_tick_format,
    lr_at,
    pin_above,
    place_labels,
    streamed_range,
)

if TYPE_CHECKING:
    from lrwidget.analysis import Analysis, RuleResult

#: Spans named by the skip handles themselves; a span label would repeat the name.
_HANDLE_NAMED_SPANS = frozenset({"skip start", "skip end"})
#: Height of the skip handles, as a fraction of the plot (unit y scale).
HANDLE_Y = 0.03
_PICK_Y = 0.5
# A label whose line lies beyond this fraction of the (log) axis goes left of it where it can.
_LABEL_FLIP_FRACTION = 0.75
_SPAN_LABEL_Y = 0.12
#: The lowest-loss caption sits below and right of the true minimum (pixels), where the curve
#: (rising on both sides of its minimum) leaves room; flipped to below-left near the right edge.
CAPTION_OFFSET = (8, 16)
# The caption is about 380 px wide: left of the point once that lies past the axis middle.
_CAPTION_FLIP_FRACTION = 0.5

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
#: Some of :class:`ChartView`'s fields, by name, as one layer builder computes them.
_Fields = dict[str, Any]

#: The marks a light streamed update redraws: the measured points and the smoothed line.
STREAM_MARKS: frozenset[str] = frozenset({"raw", "above", "smoothed"})


def minimum_caption(lowest_lr: float, lowest_loss: float) -> str:
    """The caption under the minimum's link, drawn at the lowest smoothed loss: says which
    number is a loss and which are learning rates."""
    del lowest_loss  # the dot is drawn at it; the caption names the two learning rates
    return (
        f"lowest smoothed loss at lr {format_lr(lowest_lr)} · "
        f"minimum returns ÷10 = {format_lr(lowest_lr / 10)}"
    )


class _ShownRule(NamedTuple):
    """A rule that is shown and answered, with its LR (never None) and its colour."""

    name: str
    lr: float
    result: RuleResult
    color: str
    #: Where its marker is drawn: ``lr`` within the axis, else the nearer end of the axis.
    x: float


def _empty() -> FloatArray:
    return np.zeros(0, dtype=np.float64)


@dataclass(frozen=True)
class ChartView:
    """Everything the chart shows, as plain arrays; a pure function of (sweep, settings).

    Two-dimensional arrays hold one row per path of a multi-path ``Lines`` mark.
    """

    raw_x: FloatArray = field(default_factory=_empty)
    raw_y: FloatArray = field(default_factory=_empty)
    above_x: FloatArray = field(default_factory=_empty)  # raw dots above the range, pinned
    above_y: FloatArray = field(default_factory=_empty)
    smoothed_x: FloatArray = field(default_factory=_empty)
    smoothed_y: FloatArray = field(default_factory=_empty)
    shading_x: FloatArray = field(default_factory=_empty)
    shading_y: FloatArray = field(default_factory=_empty)
    shading_colors: tuple[str, ...] = ()
    span_label_x: FloatArray = field(default_factory=_empty)
    span_label_y: FloatArray = field(default_factory=_empty)
    span_label_text: tuple[str, ...] = ()
    marker_names: tuple[str, ...] = ()
    marker_lrs: tuple[float, ...] = ()
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
    minimum_label_x_offset: int = CAPTION_OFFSET[0]
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
    loss_tick_format: str = ".3g"


def stream_view(
    view: ChartView,
    lrs: np.ndarray,
    losses: np.ndarray,
    smoothed: np.ndarray,
    visible: tuple[float, float] | None = None,
) -> ChartView:
    """``view`` with only the raw points and the smoothed line replaced (fresh arrays, at the
    :func:`~lrwidget._shown_points.shown_indices` of the ``visible`` LR range: at most
    MAX_POINTS_PER_MARK points), and the loss range lowered when a new point falls below it
    (its tick format with it).

    A light streamed update draws this with ``only=STREAM_MARKS``: the rest of ``view``
    (the last full redraw) is not sent again.
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    shown = shown_indices(lrs, np.asarray(losses, dtype=np.float64), visible)
    fields = _loss_marks(lrs, losses, smoothed, shown)
    # The y range follows the points added since the last full view down (the chart sends
    # it only when it changes); older ones were placed by that view's range on purpose.
    drawn = float(np.nanmax(view.raw_x)) if np.isfinite(view.raw_x).any() else -math.inf
    points = [fields[f"{mark}_y"][fields[f"{mark}_x"] > drawn] for mark in ("raw", "smoothed")]
    shown_range = streamed_range(view.loss_range, points)
    if shown_range is not view.loss_range:
        fields |= {"loss_range": shown_range, "loss_tick_format": loss_tick_format(shown_range)}
    fields |= pin_above(fields["raw_x"], fields["raw_y"], shown_range)
    return dataclasses.replace(view, **fields)


def _loss_marks(
    lrs: np.ndarray, losses: ArrayLike, smoothed: ArrayLike | None, shown: np.ndarray
) -> _Fields:
    """The raw points and (with ``smoothed``) the smoothed line at the ``shown`` indices: the
    line's x depends on the points only, so a change of settings resends only its y.  A raw
    dot with no y would be drawn in a corner: those are left out (the NaN/inf span shows
    them); the line keeps them, so that it breaks there."""
    raw_x, raw_y = take(lrs, shown), take(losses, shown)
    finite = np.isfinite(raw_y)
    fields = _xy("raw", raw_x[finite], raw_y[finite])
    if smoothed is not None:
        fields |= _xy("smoothed", raw_x, take(smoothed, shown))
    return fields


def divergence_reference(analysis: Analysis) -> float | None:
    """The loss the divergence threshold multiplies: the lowest finite smoothed loss before
    the cut (the running minimum at the point of divergence)."""
    smoothed = np.asarray(analysis.smoothed, dtype=np.float64)
    end = analysis.divergence_index if analysis.divergence_index is not None else len(smoothed)
    head = smoothed[:end]
    finite = np.isfinite(head)  # a masked minimum: no copy of the sweep on every redraw
    return float(np.min(head, where=finite, initial=np.inf)) if finite.any() else None


def divergence_for_level(
    analysis: Analysis | None, level: float, lowest: float, highest: float
) -> float | None:
    """The divergence threshold a dragged line at loss ``level`` means: ``level`` over the
    reference loss, within [lowest, highest], to one decimal; None when there is none."""
    reference = divergence_reference(analysis) if analysis is not None else None
    if reference is None or reference <= 0 or not math.isfinite(level):
        return None
    return round(min(max(level / reference, lowest), highest), 1)


def marker_positions(view: ChartView) -> Mapping[str, float]:
    """Rule name -> the LR its vertical marker stands for (drawn there, or at the end of the
    axis when the LR lies beyond it)."""
    return dict(zip(view.marker_names, view.marker_lrs, strict=True))


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
    visible: tuple[float, float] | None = None,
    plot_width: float = PLOT_WIDTH,
    memo: PointsMemo | None = None,
) -> ChartView:
    """Compute every array the chart shows.  Pure: no widget is touched.

    ``lrs``/``losses`` are the raw record; ``analysis`` the result of ``analyze`` on it (None
    while there is nothing to analyse); ``shown`` the rules to draw; ``visible`` the LR range
    on screen when zoomed (None: all of it); ``plot_width`` the plot's width in pixels, for
    placing the rule labels; ``memo`` what earlier redraws of these points computed (see
    :class:`~lrwidget._shown_points.PointsMemo`).  The raw points and the smoothed line are
    drawn at the points :func:`~lrwidget._shown_points.shown_indices` chooses (at most
    MAX_POINTS_PER_MARK); everything else is drawn at its exact position.
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    count = len(lrs)
    memo = memo if memo is not None else PointsMemo()
    boundary = memo.boundary(lrs, num_it, start_lr, end_lr)
    extent = count if count else num_it
    smoothed = None if analysis is None else np.asarray(analysis.smoothed, np.float64)[:count]
    view = _loss_marks(lrs, losses, smoothed, memo.indices(lrs, losses, visible))
    view |= _skip_handles(boundary, skip_start, extent - skip_end)
    view |= _pick(custom_lr) | _highlight(selected_lr, selected_color)
    if analysis is None or smoothed is None:
        return ChartView(**view)
    view |= _spans(analysis.excluded_spans, boundary, count, end_lr)
    rules = [
        _ShownRule(name, lr, result, rule_color(name, rule_order), min(max(lr, start_lr), end_lr))
        for name, result in analysis.rules.items()
        if name in shown and result.lr is not None
        for lr in [float(result.lr)]
    ]
    view |= _rule_markers(rules) | _rule_points(rules, start_lr, end_lr)
    view |= _rule_labels(rules, start_lr, end_lr, plot_width)
    view |= _minimum_link(rules, start_lr, end_lr)
    reference = divergence_reference(analysis)
    level = None if div_threshold is None or reference is None else div_threshold * reference
    view |= _divergence(level, lrs, start_lr, end_lr)
    view["loss_range"] = span = loss_range(losses, smoothed, analysis.window, len(rules), level)
    view["loss_tick_format"] = loss_tick_format(span)
    view |= pin_above(view["raw_x"], view["raw_y"], span)
    return ChartView(**view)


def _xy(mark: str, x: ArrayLike, y: ArrayLike) -> _Fields:
    """``{mark}_x`` and ``{mark}_y`` as fresh float64 arrays."""
    return {f"{mark}_x": np.array(x, dtype=np.float64), f"{mark}_y": np.array(y, dtype=np.float64)}


def _skip_handles(boundary: Callable[[int], float], first: int, stop: int) -> _Fields:
    """The skip-start and skip-end handles at the cut-offs (in index space, so they show
    before the first point arrives)."""
    x = [boundary(first), boundary(stop)]
    return _xy("handle", x, [HANDLE_Y, HANDLE_Y])


def _pick(custom_lr: float | None) -> _Fields:
    """The user's own LR, where they clicked."""
    return {} if custom_lr is None else _xy("pick", [custom_lr], [_PICK_Y])


def _highlight(selected_lr: float | None, selected_color: str) -> _Fields:
    """A full-height band at the selected LR, in the selected rule's colour."""
    if selected_lr is None or not math.isfinite(selected_lr):
        return {}
    band = _xy("highlight", [selected_lr, selected_lr], [0.0, 1.0])
    return band | {"highlight_color": selected_color}


def _spans(
    spans: Sequence[tuple[int, int, str]],
    boundary: Callable[[int], float],
    count: int,
    end_lr: float,
) -> _Fields:
    """One closed full-height rectangle per excluded span, and a label for the unnamed ones."""
    # A span running to the end of the record runs to the end of the axis.
    edges = [
        (boundary(first), boundary(stop) if stop < count else end_lr)
        for first, stop, _ in spans
        if stop > first
    ]
    if not edges:
        return {}
    labels = [label for first, stop, label in spans if stop > first]
    rectangles_x = [[left, right, right, left, left] for left, right in edges]
    view = _xy("shading", rectangles_x, [[0.0, 0.0, 1.0, 1.0, 0.0]] * len(edges))
    view["shading_colors"] = tuple(SPAN_COLORS.get(label, "#8c8c8c") for label in labels)
    centres = [math.sqrt(left * right) for left, right in edges]
    named = [
        (x, label)
        for x, label in zip(centres, labels, strict=True)
        if label not in _HANDLE_NAMED_SPANS
    ]
    if named:
        view |= _xy("span_label", [x for x, _ in named], [_SPAN_LABEL_Y] * len(named))
        view["span_label_text"] = tuple(label for _, label in named)
    return view


def _rule_markers(rules: Sequence[_ShownRule]) -> _Fields:
    """A vertical line per rule, at exactly the LR the rule returns (at the end of the axis
    when that LR lies beyond it); _rule_labels stops each at its label's row."""
    if not rules:
        return {}
    return _xy("marker", [[rule.x, rule.x] for rule in rules], [[0.0, 1.0]] * len(rules)) | {
        "marker_names": tuple(rule.name for rule in rules),
        "marker_lrs": tuple(rule.lr for rule in rules),
        "marker_colors": tuple(rule.color for rule in rules),
    }


def _rule_points(rules: Sequence[_ShownRule], start_lr: float, end_lr: float) -> _Fields:
    """The point fastai plots for each rule; for ``minimum`` also the LR ÷ 10 it returns,
    unless that lies off the axis (its marker and label at the axis' end say where)."""
    points: list[tuple[float, float, str]] = []
    for rule in rules:
        drawn = [rule.result.point]
        if rule.name == "minimum" and rule.result.point is not None:
            drawn.append(rule.result.returned_point)
        on_axis = [point for point in drawn if point is not None and start_lr <= point[0] <= end_lr]
        points += [(point[0], point[1], rule.color) for point in on_axis]
    if not points:
        return {}
    x, y, colors = zip(*points, strict=True)
    return _xy("point", x, y) | {"point_colors": colors}


def _rule_labels(
    rules: Sequence[_ShownRule], start_lr: float, end_lr: float, plot_width: float
) -> _Fields:
    """``"valley 1.23e-03"`` per rule, one row each, placed (see place_labels) so that no
    marker line runs through another rule's label and none leaves the plot: right of its
    line (``label_*``, drawn from their x) or left of it (``label_left_*``, ending at their x),
    preferably left in the right quarter of the axis.  Also each marker's ``marker_y``: its
    line rises to the top of its label's row and stops there."""
    texts = [_label_text(rule) for rule in rules]
    fractions = [axis_fraction(rule.x, start_lr, end_lr) for rule in rules]
    pixels = [fraction * plot_width for fraction in fractions]
    widths = [label_width(text) for text in texts]
    prefer_left = [fraction > _LABEL_FLIP_FRACTION for fraction in fractions]
    rows, starts = place_labels(pixels, widths, prefer_left, plot_width)
    heights = [LABEL_TOP - LABEL_STEP * row for row in rows]
    sides: dict[str, list[tuple[float, float, str, str]]] = {"label": [], "label_left": []}
    for index, rule in enumerate(rules):
        pixel, start, width = pixels[index], starts[index], widths[index]
        left_of_line = start + width <= pixel
        anchor = start + width + LABEL_GAP if left_of_line else start - LABEL_GAP
        # Next to its own line the label is anchored at the line's exact LR.
        x = rule.x if abs(anchor - pixel) < 1e-6 else lr_at(anchor, start_lr, end_lr, plot_width)
        entry = (x, heights[index], texts[index], text_color(rule.color))
        sides["label_left" if left_of_line else "label"].append(entry)
    tops = [[0.0, min(height + LABEL_STEP / 2, 1.0)] for height in heights]
    view: _Fields = {"marker_y": np.array(tops, dtype=np.float64)} if rules else {}
    for mark, labels in sides.items():
        if labels:
            label_x, label_y, label_texts, colors = zip(*labels, strict=True)
            view |= _xy(mark, label_x, label_y)
            view |= {f"{mark}_text": label_texts, f"{mark}_colors": colors}
    return view


def _label_text(rule: _ShownRule) -> str:
    """``"valley 1.23e-03"``; an arrow points off the axis when the LR lies beyond it."""
    text = f"{rule.name} {format_lr(rule.lr)}"
    if rule.lr < rule.x:
        return f"← {text}"
    return f"{text} →" if rule.lr > rule.x else text


def _minimum_link(rules: Sequence[_ShownRule], start_lr: float, end_lr: float) -> _Fields:
    """The minimum's connector and caption.

    The exact confusion users hit: the lowest loss is a decade right of the number ``minimum``
    returns.  A level connector from the true minimum (right) to its LR ÷ 10 (left) says so.
    """
    for rule in rules:
        lowest, returned = rule.result.point, rule.result.returned_point
        if rule.name != "minimum" or lowest is None or returned is None:
            continue
        lowest_lr, lowest_loss = float(lowest[0]), float(lowest[1])
        near_right = axis_fraction(lowest_lr, start_lr, end_lr) > _CAPTION_FLIP_FRACTION
        text = minimum_caption(lowest_lr, lowest_loss)
        caption = {
            "minimum_label_text": (text,),
            "minimum_label_align": "end" if near_right else "start",
            "minimum_label_x_offset": _caption_offset(
                text, lowest_lr, near_right, start_lr, end_lr
            ),
        }
        # Off the axis, the connector stops at its end, where the marker stands.
        link = _xy("link", [lowest_lr, max(returned[0], start_lr)], [lowest_loss, lowest_loss])
        return link | _xy("minimum_label", [lowest_lr], [lowest_loss]) | caption
    return {}


def _caption_offset(text: str, lr: float, left: bool, start_lr: float, end_lr: float) -> int:
    """The caption's x offset from the lowest point: a gap beside it (left of it when ``left``),
    or moved toward and past the point as far as it takes to stay inside a PLOT_WIDTH-wide
    plot, and so inside any wider one (it hangs 16 px under the link, clear of the point)."""
    pixel = axis_fraction(lr, start_lr, end_lr) * PLOT_WIDTH
    width, gap = label_width(text), CAPTION_OFFSET[0]
    if left:
        return math.ceil(max(-gap, width - pixel))
    return math.floor(min(gap, PLOT_WIDTH - width - pixel))


def _divergence(level: float | None, lrs: FloatArray, start_lr: float, end_lr: float) -> _Fields:
    """The threshold line across the axis, with its drag handle over the last point."""
    if level is None:
        return {}
    handle_lr = float(lrs[-1]) if len(lrs) else end_lr
    view = _xy("divergence", [start_lr, end_lr], [level, level])
    return view | _xy("divergence_handle", [handle_lr], [level])
