"""How each mark of the loss chart is built: its scales, colours, sizes and interactions.

:class:`lrwidget._chart.LossChart` builds the figure from these once; what the marks show is
set later, by :meth:`~lrwidget._chart.LossChart.changes` from the pure view.
"""

from __future__ import annotations

import math
from typing import Any

import bqplot
import ipywidgets as widgets
import numpy as np

from lrwidget._style import (
    CUSTOM_COLOR,
    HANDLE_COLOR,
    LABEL_TEXT_COLORS,
    RAW_COLOR,
    RULE_COLORS,
    SMOOTHED_COLOR,
    SPAN_COLORS,
)
from lrwidget._view import CAPTION_OFFSET, HANDLE_Y

SPAN_FILL_OPACITY = 0.18
#: The raw-loss Scatter is the only Scatter with a size this small (browser tests rely on it).
RAW_POINT_SIZE = 9
#: A raw loss above the data area: an upward triangle at its top.
ABOVE_POINT_SIZE = 36
HANDLE_SIZE = 140


def tooltip(css_class: str) -> widgets.HTML:
    """A tooltip the kernel fills in on hover (see :mod:`lrwidget._frames`)."""
    tooltip = widgets.HTML(layout={"padding": "2px 6px"})
    tooltip.add_class(css_class)
    return tooltip


def decade_ticks(start_lr: float, end_lr: float) -> np.ndarray | None:
    """A tick per power of ten between the ends (None, bqplot's own ticks, for fewer than 2)."""
    decades = np.arange(math.ceil(math.log10(start_lr)), math.floor(math.log10(end_lr)) + 1)
    return 10.0**decades if len(decades) >= 2 else None


def axes(x_scale: Any, loss_scale: Any, start_lr: float, end_lr: float) -> tuple[Any, ...]:
    """The LR axis (log scale, a tick per decade) and the loss axis."""
    x_axis = bqplot.Axis(
        scale=x_scale,
        label="learning rate (log scale)",
        tick_format=".0e",
        tick_values=decade_ticks(start_lr, end_lr),
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


def span_marks(unit_scales: dict[str, Any]) -> tuple[Any, ...]:
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


def loss_marks(loss_scales: dict[str, Any]) -> tuple[Any, ...]:
    """The raw losses, those pinned at the top of the data area, and the smoothed line."""
    raw = bqplot.Scatter(
        scales=loss_scales,
        colors=[RAW_COLOR],
        default_size=RAW_POINT_SIZE,
        stroke=None,
        opacities=[0.8],
        tooltip=tooltip("lrw-tooltip-point"),
        interactions={"hover": "tooltip"},
    )
    above = bqplot.Scatter(
        scales=loss_scales,
        colors=[RAW_COLOR],
        marker="triangle-up",
        default_size=ABOVE_POINT_SIZE,
        stroke=None,
        tooltip=tooltip("lrw-tooltip-above"),
        interactions={"hover": "tooltip"},
    )
    smoothed = bqplot.Lines(
        scales=loss_scales,
        colors=[SMOOTHED_COLOR],
        stroke_width=2.5,
        enable_hover=False,
        interactions={},
    )
    return raw, above, smoothed


def rule_marks(loss_scales: dict[str, Any], unit_scales: dict[str, Any]) -> tuple[Any, ...]:
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
        tooltip=tooltip("lrw-tooltip-rule"),
        interactions={"hover": "tooltip"},
    )
    return markers, highlight, minimum_link, points


def label_marks(loss_scales: dict[str, Any], unit_scales: dict[str, Any]) -> tuple[Any, ...]:
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


def divergence_marks(loss_scales: dict[str, Any]) -> tuple[Any, ...]:
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


def control_marks(unit_scales: dict[str, Any], start_lr: float, end_lr: float) -> tuple[Any, ...]:
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
