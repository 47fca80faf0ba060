"""The marks of the earlier sweeps: one lighter dashed curve and one set of rule points each.

Built on demand: a widget with one sweep has none of these marks.  The n-th earlier sweep drawn
uses slot n (its dash style and marker shape, :func:`lrwidget._compare_view.style_of`); a slot
no longer needed is emptied, not removed, so showing a sweep again costs no new models.  The
slots sit under the current sweep's curve, so the current sweep always draws on top.

An earlier sweep does not change while a new one streams, and :meth:`CompareChart.changes`
lists only the marks whose data differ: a streamed update sends nothing for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bqplot

from lrwidget._chart import mark_changes
from lrwidget._compare_view import EARLIER_OPACITY, EarlierView
from lrwidget._stream import Change
from lrwidget._style import SMOOTHED_COLOR

#: Each slot's marks and their traits: {trait: EarlierView attribute}.
_PLAN: tuple[tuple[str, dict[str, str]], ...] = (
    ("curve", {"x": "curve_x", "y": "curve_y", "line_style": "line_style"}),
    ("points", {"x": "point_x", "y": "point_y", "colors": "point_colors", "marker": "marker"}),
)


class _Slot:
    """The marks of one earlier sweep."""

    def __init__(self, scales: dict[str, Any]) -> None:
        self.curve = bqplot.Lines(
            scales=scales,
            colors=[SMOOTHED_COLOR],
            stroke_width=2.0,
            opacities=[EARLIER_OPACITY],
            enable_hover=False,
            interactions={},
        )
        self.points = bqplot.Scatter(
            scales=scales,
            default_size=70,
            stroke="white",
            opacities=[EARLIER_OPACITY + 0.2],
            enable_hover=False,
            interactions={},
        )


class CompareChart:
    """The earlier sweeps' marks of one figure.

    Args:
        figure: The chart's figure; slots are inserted just under ``below``.
        below: The current sweep's smoothed line.
        scales: ``{"x": LR scale, "y": loss scale}``.
    """

    def __init__(self, figure: bqplot.Figure, below: Any, scales: dict[str, Any]) -> None:
        self.figure, self.below, self.scales = figure, below, scales
        self.slots: list[_Slot] = []

    def marks(self) -> list[Any]:
        """Every mark of every slot (for tests and for closing)."""
        return [mark for slot in self.slots for mark in (slot.curve, slot.points)]

    def changes(self, views: Sequence[EarlierView]) -> list[Change]:
        """What drawing ``views`` (one per earlier sweep, in slot order) changes: the figure's
        marks when new slots are needed, then each slot's traits that differ."""
        pending: list[Change] = []
        if len(views) > len(self.slots):
            new = [_Slot(self.scales) for _ in range(len(views) - len(self.slots))]
            self.slots += new
            marks = list(self.figure.marks)
            at = marks.index(self.below)
            added = [mark for slot in new for mark in (slot.curve, slot.points)]
            pending.append((self.figure, {"marks": [*marks[:at], *added, *marks[at:]]}))
        for index, slot in enumerate(self.slots):
            view = views[index] if index < len(views) else EarlierView()
            pending += mark_changes(slot, _PLAN, view)
        return pending
