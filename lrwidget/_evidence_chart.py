"""The marks that show a rule's construction (see :mod:`lrwidget._evidence_view`).

On the main chart, above the curve: ``stretch`` (a wide translucent band along the smoothed
curve: valley's falling stretch, steep's steepest step, slide's window), ``brackets`` (slide's
window ends) and ``evidence_point`` (what the rule returns, ringed).  Under the chart, a
small ``panel`` figure that shares the LR scale (so it pans and zooms with the chart): the
rule's own curve (steep's slope, slide's gradient), its ``band`` (slide's ±thresh) and its
points; hidden when the rule has no curve of its own.
"""

from __future__ import annotations

from typing import Any

import bqplot

from lrwidget._chart import mark_changes
from lrwidget._evidence_view import EvidenceView
from lrwidget._stream import Change

PANEL_HEIGHT = "170px"

#: Each mark and its traits: {trait: EvidenceView attribute}.
_PLAN: tuple[tuple[str, dict[str, str]], ...] = (
    ("stretch", {"x": "stretch_x", "y": "stretch_y", "colors": "color"}),
    ("brackets", {"x": "bracket_x", "y": "bracket_y", "colors": "color"}),
    ("evidence_point", {"x": "point_x", "y": "point_y", "colors": "color"}),
    ("band", {"x": "band_x", "y": "band_y", "fill_colors": "color", "colors": "color"}),
    ("panel_line", {"x": "panel_x", "y": "panel_y", "colors": "color"}),
    ("panel_point", {"x": "panel_point_x", "y": "panel_point_y", "colors": "color"}),
)


class EvidenceChart:
    """The construction marks on the main chart and the panel figure under it.

    Args:
        x_scale, loss_scale: The main chart's scales (the panel shares the LR scale).
    """

    def __init__(self, x_scale: Any, loss_scale: Any) -> None:
        on_curve = {"x": x_scale, "y": loss_scale}
        self.stretch = bqplot.Lines(scales=on_curve, stroke_width=10.0, opacities=[0.35], **_QUIET)
        self.brackets = bqplot.Lines(scales=on_curve, stroke_width=3.0, **_QUIET)
        self.evidence_point = bqplot.Scatter(
            scales=on_curve, default_size=220, fill=False, stroke_width=3.0, **_QUIET
        )
        self.overlay = [self.stretch, self.brackets, self.evidence_point]
        self.panel_scale = bqplot.LinearScale()
        on_panel = {"x": x_scale, "y": self.panel_scale}
        self.band = bqplot.Lines(
            scales=on_panel,
            fill="inside",
            close_path=True,
            fill_opacities=[0.2],
            stroke_width=0.0,
            **_QUIET,
        )
        self.panel_line = bqplot.Lines(scales=on_panel, stroke_width=2.0, **_QUIET)
        self.panel_point = bqplot.Scatter(scales=on_panel, default_size=70, **_QUIET)
        self.panel_axis = bqplot.Axis(
            scale=self.panel_scale, side="left", tick_format=".2g", num_ticks=4, grid_lines="dashed"
        )
        x_axis = bqplot.Axis(scale=x_scale, tick_format=".0e", grid_lines="dashed")
        self.panel = bqplot.Figure(
            marks=[self.band, self.panel_line, self.panel_point],
            axes=[x_axis, self.panel_axis],
            animation_duration=0,
            display_toolbar=False,
            fig_margin={"top": 10, "bottom": 30, "left": 65, "right": 20},
            min_aspect_ratio=0.01,
            layout={"width": "100%", "height": PANEL_HEIGHT, "display": "none"},
        )
        self.panel.add_class("lrw-panel")

    def changes(self, view: EvidenceView) -> list[Change]:
        """What drawing ``view`` changes: one ``(widget, {trait: value})`` per widget."""
        pending = mark_changes(self, _PLAN, view)
        low, high = view.panel_range if view.panel_range is not None else (None, None)
        if self.panel_scale.min != low or self.panel_scale.max != high:
            pending.append((self.panel_scale, {"min": low, "max": high}))
        if self.panel_axis.label != view.panel_label:
            pending.append((self.panel_axis, {"label": view.panel_label}))
        display = "flex" if view.has_panel else "none"
        if self.panel.layout.display != display:
            pending.append((self.panel.layout, {"display": display}))
        return pending


_QUIET: dict[str, Any] = {"enable_hover": False, "interactions": {}}
