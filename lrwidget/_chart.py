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
* ``above`` – raw losses above the top of the data area (one batch that blew up): drawn at
  that top as upward triangles, hovering one gives its loss;
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

from collections.abc import Collection, Sequence
from typing import Any

import bqplot
import numpy as np

from lrwidget._chart_marks import (
    SPAN_FILL_OPACITY,
    axes,
    control_marks,
    decade_ticks,
    divergence_marks,
    label_marks,
    loss_marks,
    rule_marks,
    span_marks,
)
from lrwidget._stream import Change
from lrwidget._view import ChartView

__all__ = ["SPAN_FILL_OPACITY", "LossChart", "mark_changes"]


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
    ("above", {"x": "above_x", "y": "above_y"}),
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
        self.x_axis, self.y_axis = axes(self.x_scale, self.loss_scale, start_lr, end_lr)
        self.shading, self.span_labels = span_marks(unit_scales)
        self.raw, self.above, self.smoothed = loss_marks(loss_scales)
        self.markers, self.highlight, self.minimum_link, self.points = rule_marks(
            loss_scales, unit_scales
        )
        self.labels, self.labels_left, self.minimum_label = label_marks(loss_scales, unit_scales)
        self.divergence_line, self.divergence_handle = divergence_marks(loss_scales)
        self.handles, self.pick = control_marks(unit_scales, start_lr, end_lr)
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

    def range_changes(self, start_lr: float, end_lr: float) -> list[Change]:
        """What showing the LR axis from ``start_lr`` to ``end_lr`` changes (nothing when it
        shows that already): its ends, a zoom reset with them, and its decade ticks."""
        if (start_lr, end_lr) == self.full_range:
            return []
        self.full_range = (start_lr, end_lr)
        return [
            (self.x_scale, {"min": start_lr, "max": end_lr}),
            (self.x_axis, {"tick_values": decade_ticks(start_lr, end_lr)}),
        ]

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
