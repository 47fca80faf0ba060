"""The bqplot figure of the learning-rate widget: the marks, and nothing they show.

What each mark shows is computed without bqplot in :mod:`lrwidget._view`.  The figure is built
once (:class:`LossChart`); :meth:`LossChart.changes` lists, for a
:class:`~lrwidget._view.ChartView`, new values only for the marks whose data changed, and
:meth:`LossChart.send` assigns them, each mark's traits in one message (``hold_sync``), so a
redraw's cost in messages is known before it is sent.  Arrays are always fresh objects.

Marks, bottom to top (all share the log-scale LR axis):

* ``shading`` – one multi-path ``Lines`` filling the excluded spans (unit y scale);
* ``span_labels`` – a ``Label`` naming each excluded span other than the skipped ends (the
  skip handles carry those names);
* ``raw`` – the raw losses (reduced to screen size), the only ``Scatter`` with a small
  ``default_size``; hovering a point fills its tooltip;
* ``smoothed`` – the smoothed loss, a ``Lines``;
* ``markers`` – one multi-line ``Lines`` holding a vertical line per rule, at exactly the LR
  the rule returns, rising from the bottom to its label's row;
* ``highlight`` – a wide translucent vertical line at the selected LR;
* ``minimum_link`` – a horizontal dashed connector at the true minimum's loss, from the true
  minimum (right end) to its LR ÷ 10, the returned minimum (left end, one decade to the left);
* ``points`` – a ``Scatter`` of every rule's plotted point (and the returned minimum);
* ``labels`` / ``labels_left`` – a ``Label`` text per marker, e.g. ``"valley 1.23e-03"``,
  drawn right of its line, or left of it (``labels_left``), where no other marker line runs
  through it and it stays inside the plot (:func:`lrwidget._view_layout.place_labels`);
* ``minimum_label`` – under the minimum connector, :func:`lrwidget._view.minimum_caption`;
* ``divergence_line`` / ``divergence_handle`` – the divergence threshold, draggable in y;
* ``handles`` – ``Scatter(enable_move=True, restrict_x=True)``: the skip-start and skip-end
  cut-offs, draggable in x;
* ``pick`` – a ``Scatter`` with ``interactions={"click": "add"}``: a click on the chart's
  background adds a point there, which the widget turns into the custom LR.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

import bqplot
import ipywidgets as widgets
import numpy as np

from lrwidget._stream import Change
from lrwidget._style import (
    CUSTOM_COLOR,
    HANDLE_COLOR,
    LABEL_TEXT_COLORS,
    RAW_COLOR,
    RULE_COLORS,
    SMOOTHED_COLOR,
    SPAN_COLORS,
)
from lrwidget._view import CAPTION_OFFSET, HANDLE_Y, ChartView

SPAN_FILL_OPACITY = 0.18
#: The raw-loss Scatter is the only Scatter with a size this small (browser tests rely on it).
RAW_POINT_SIZE = 9
HANDLE_SIZE = 140


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


#: Each mark (bottom to top, the figure's order) and its traits: {trait: ChartView attribute}.
#: Lists of colours are converted to lists.
_PLAN: tuple[tuple[str, dict[str, str]], ...] = (
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
)


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
        self.x_axis, self.y_axis = _axes(self.x_scale, self.loss_scale, start_lr, end_lr)
        self.shading, self.span_labels = _span_marks(unit_scales)
        self.raw, self.smoothed = _loss_marks(loss_scales)
        self.markers, self.highlight, self.minimum_link, self.points = _rule_marks(
            loss_scales, unit_scales
        )
        self.labels, self.labels_left, self.minimum_label = _label_marks(loss_scales, unit_scales)
        self.divergence_line, self.divergence_handle = _divergence_marks(loss_scales)
        self.handles, self.pick = _control_marks(unit_scales, start_lr, end_lr)
        self.figure = bqplot.Figure(
            marks=[getattr(self, mark) for mark, _ in _PLAN],
            axes=[self.x_axis, self.y_axis],
            animation_duration=0,
            fig_margin={"top": 20, "bottom": 50, "left": 65, "right": 20},
            min_aspect_ratio=0.01,
            layout={"width": "100%", "height": "420px"},
        )
        self.figure.add_class("lrw-figure")
        self.full_range = (start_lr, end_lr)
        #: Pans (drag) and zooms (wheel) the LR axis while zoom is on; the widget redraws the
        #: visible range from the full sweep (see :meth:`set_zoom`).
        self.zoom = bqplot.interacts.PanZoom(scales={"x": [self.x_scale]})
        #: True while :meth:`send` assigns traits (observers ignore their own echoes).
        self.drawing = False

    def set_zoom(self, enabled: bool) -> None:
        """Let the mouse pan and zoom the LR axis (on), or show the whole sweep again (off)."""
        self.figure.interaction = self.zoom if enabled else None
        if not enabled:
            with self.x_scale.hold_sync():
                self.x_scale.min, self.x_scale.max = self.full_range

    def visible(self) -> tuple[float, float] | None:
        """The LR range on screen when zoomed in or panned; None when it is the whole axis."""
        low, high = self.x_scale.min, self.x_scale.max
        if low is None or high is None or (low, high) == self.full_range:
            return None
        return (float(min(low, high)), float(max(low, high)))

    def changes(self, view: ChartView, *, only: Collection[str] | None = None) -> list[Change]:
        """What assigning ``view`` would change: one ``(widget, {trait: value})`` per widget.

        Only marks whose data differ are listed; sending each entry under ``hold_sync`` is one
        comm message, so ``len(changes)`` is what a redraw costs before anything is sent.  With
        ``only`` (mark names, e.g. :data:`STREAM_MARKS`) the other marks are left out; the loss
        scale and the loss axis' tick format are listed whenever they changed.
        """
        plan = _PLAN if only is None else [entry for entry in _PLAN if entry[0] in only]
        pending = mark_changes(self, plan, view)
        low, high = view.loss_range if view.loss_range is not None else (None, None)
        if self.loss_scale.min != low or self.loss_scale.max != high:
            pending.append((self.loss_scale, {"min": low, "max": high}))
        if self.y_axis.tick_format != view.loss_tick_format:
            pending.append((self.y_axis, {"tick_format": view.loss_tick_format}))
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


def mark_changes(owner: Any, plan: Sequence[tuple[str, dict[str, str]]], view: Any) -> list[Change]:
    """For each ``(mark name, {trait: view attribute})`` in ``plan``, the traits of
    ``owner``'s mark that differ from ``view``'s.  A mark empty before and after is left
    alone (its colours or text cannot show), so an unused layer costs no message."""
    pending: list[Change] = []
    for name, traits in plan:
        mark = getattr(owner, name)
        values = {
            trait: _trait_value(trait, getattr(view, attribute))
            for trait, attribute in traits.items()
        }
        if "x" in values and _is_empty(values["x"]) and _is_empty(mark.x):
            continue
        changed = {
            trait: value
            for trait, value in values.items()
            if not _same(getattr(mark, trait), value)
        }
        if changed:
            pending.append((mark, changed))
    return pending


def _is_empty(values: Any) -> bool:
    return values is None or np.asarray(values).size == 0


def _trait_value(trait: str, value: Any) -> Any:
    if trait == "labels":
        return list(value)
    if trait == "text":
        return np.array(value, dtype=object) if len(value) else None
    if trait in ("colors", "fill_colors"):
        if isinstance(value, str):
            return [value]
        return list(value) if value else ["#7f7f7f"]
    return value


def _tooltip(css_class: str) -> widgets.HTML:
    """A tooltip the kernel fills in on hover (see :mod:`lrwidget._frames`)."""
    tooltip = widgets.HTML(layout={"padding": "2px 6px"})
    tooltip.add_class(css_class)
    return tooltip


def _axes(x_scale: Any, loss_scale: Any, start_lr: float, end_lr: float) -> tuple[Any, ...]:
    """The LR axis (log scale, a tick per decade) and the loss axis."""
    decades = np.arange(math.ceil(math.log10(start_lr)), math.floor(math.log10(end_lr)) + 1)
    tick_values = 10.0**decades if len(decades) >= 2 else None
    x_axis = bqplot.Axis(
        scale=x_scale,
        label="learning rate (log scale)",
        tick_format=".0e",
        tick_values=tick_values,
        grid_lines="dashed",
    )
    y_axis = bqplot.Axis(
        scale=loss_scale,
        side="left",
        # No legend (it covered the labels): the axis says which mark is which.
        label="loss (dots: raw, line: smoothed)",
        tick_format=".3g",
        grid_lines="dashed",
    )
    return x_axis, y_axis


def _span_marks(unit_scales: dict[str, Any]) -> tuple[Any, ...]:
    """The excluded spans' shading and their labels."""
    shading = bqplot.Lines(
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
    span_labels = bqplot.Label(
        scales=unit_scales,
        colors=[LABEL_TEXT_COLORS["span"]],
        default_size=11.0,
        font_weight="normal",
        align="middle",
        enable_hover=False,
        interactions={},
    )
    return shading, span_labels


def _loss_marks(loss_scales: dict[str, Any]) -> tuple[Any, ...]:
    """The raw losses and the smoothed line."""
    raw = bqplot.Scatter(
        scales=loss_scales,
        colors=[RAW_COLOR],
        default_size=RAW_POINT_SIZE,
        stroke=None,
        opacities=[0.8],
        tooltip=_tooltip("lrw-tooltip-point"),
        interactions={"hover": "tooltip"},
    )
    smoothed = bqplot.Lines(
        scales=loss_scales,
        colors=[SMOOTHED_COLOR],
        stroke_width=2.5,
        enable_hover=False,
        interactions={},
    )
    return raw, smoothed


def _rule_marks(loss_scales: dict[str, Any], unit_scales: dict[str, Any]) -> tuple[Any, ...]:
    """The rule markers, the selection band, the minimum's link and the rules' points."""
    markers = bqplot.Lines(
        scales=unit_scales,
        stroke_width=1.5,
        colors=list(RULE_COLORS.values()),
        enable_hover=False,
        interactions={},
    )
    highlight = bqplot.Lines(
        scales=unit_scales,
        stroke_width=9.0,
        colors=[CUSTOM_COLOR],
        opacities=[0.22],
        enable_hover=False,
        interactions={},
    )
    minimum_link = bqplot.Lines(
        scales=loss_scales,
        colors=[RULE_COLORS["minimum"]],
        line_style="dashed",
        stroke_width=2.0,
        enable_hover=False,
        interactions={},
    )
    points = bqplot.Scatter(
        scales=loss_scales,
        colors=list(RULE_COLORS.values()),
        default_size=90,
        stroke="white",
        tooltip=_tooltip("lrw-tooltip-rule"),
        interactions={"hover": "tooltip"},
    )
    return markers, highlight, minimum_link, points


def _label_marks(loss_scales: dict[str, Any], unit_scales: dict[str, Any]) -> tuple[Any, ...]:
    """The rule labels (right and left of their lines) and the minimum's caption."""
    labels = bqplot.Label(
        scales=unit_scales,
        colors=list(RULE_COLORS.values()),
        default_size=12.0,
        font_weight="bold",
        align="start",
        x_offset=4,
        enable_hover=False,
        interactions={},
    )
    labels_left = bqplot.Label(
        scales=unit_scales,
        colors=list(RULE_COLORS.values()),
        default_size=12.0,
        font_weight="bold",
        align="end",
        x_offset=-4,
        enable_hover=False,
        interactions={},
    )
    minimum_label = bqplot.Label(
        scales=loss_scales,
        colors=[LABEL_TEXT_COLORS["minimum"]],
        default_size=12.0,
        font_weight="bold",
        align="start",
        x_offset=CAPTION_OFFSET[0],
        y_offset=CAPTION_OFFSET[1],
        enable_hover=False,
        interactions={},
    )
    return labels, labels_left, minimum_label


def _divergence_marks(loss_scales: dict[str, Any]) -> tuple[Any, ...]:
    """The divergence threshold line and its handle, draggable in y."""
    divergence_line = bqplot.Lines(
        scales=loss_scales,
        colors=[SPAN_COLORS["diverged"]],
        line_style="dotted",
        stroke_width=1.5,
        enable_hover=False,
        interactions={},
    )
    divergence_handle = bqplot.Scatter(
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
    return divergence_line, divergence_handle


def _control_marks(unit_scales: dict[str, Any], start_lr: float, end_lr: float) -> tuple[Any, ...]:
    """The skip handles, draggable in x, and the click-to-pick layer."""
    handles = bqplot.Scatter(
        x=np.array([start_lr, end_lr]),
        y=np.full(2, HANDLE_Y),
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
    pick = bqplot.Scatter(
        scales=unit_scales,
        colors=[CUSTOM_COLOR],
        marker="cross",
        default_size=HANDLE_SIZE,
        enable_move=True,
        restrict_x=True,
        enable_hover=False,
        interactions={"click": "add"},
    )
    return handles, pick
