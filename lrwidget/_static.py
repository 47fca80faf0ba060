"""The widget's static view: what a notebook shows where no widget can be drawn.

nbconvert, GitHub's renderer and text consoles show a cell's ``text/plain`` or ``text/html``
output, never the live widget.  :class:`StaticView` holds that output for one moment of a
widget: a text summary (the status and each shown rule's LR, then a line per other shown
sweep), and HTML with the readout's table and a PNG of the chart (the other shown sweeps as
lighter dashed curves) (raw points, smoothed line, a marker per shown rule at its exact
LR, the excluded spans shaded, a log LR axis), base64-embedded.

The PNG is drawn in the kernel with matplotlib (fastai depends on it), imported only when a
chart is drawn, on a ``Figure`` with its own Agg canvas: the user's pyplot backend and
figures are left alone.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lrwidget import _readout
from lrwidget._boundaries import boundary_function
from lrwidget._compare_view import EARLIER_OPACITY, Compared
from lrwidget._style import RAW_COLOR, SMOOTHED_COLOR, SPAN_COLORS, format_lr, rule_color
from lrwidget.settings import CUSTOM

if TYPE_CHECKING:
    from lrwidget.analysis import Analysis
    from lrwidget.sweep import Sweep

#: matplotlib's line style for each of bqplot's dash styles (an earlier sweep's curve).
_DASHES = {"dashed": "--", "dotted": ":", "dash_dotted": "-."}
#: The chart's size in inches and its resolution: 640 x 320 pixels.
FIGURE_SIZE = (6.4, 3.2)
DPI = 100
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class StaticState:
    """What the static view shows of a widget at one moment (plain values)."""

    sweep: Sweep | None
    analysis: Analysis | None
    message: str | None
    rule_names: tuple[str, ...]
    shown: tuple[str, ...]
    selected: str
    lr: float | None
    custom_lr: float | None
    status: str
    num_it: int
    schedule: tuple[float, float] = (1e-7, 10.0)  # start_lr, end_lr
    compared: Compared = field(default_factory=Compared)  # the other shown sweeps


@dataclass(frozen=True)
class StaticView:
    """A widget's state as text, HTML and PNG; displaying it shows them, without a widget.

    Attributes:
        text: The plain-text summary (status, points, each shown rule's LR).
        html: The summary, the suggestions table and the chart as an embedded PNG.
        png: The chart's PNG bytes (empty with no points to draw).
    """

    text: str
    html: str
    png: bytes = field(default=b"", repr=False)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, str]:
        return {"text/plain": self.text, "text/html": self.html}

    def __repr__(self) -> str:
        return self.text


def static_view(state: StaticState) -> StaticView:
    """The text, HTML and PNG of ``state``."""
    png = chart_png(state) if state.sweep is not None and len(state.sweep) else b""
    return StaticView(summary_text(state), summary_html(state, png), png)


def _headline(state: StaticState) -> str:
    count = 0 if state.sweep is None else len(state.sweep)
    return f"LRFinderWidget: {state.status}, {count} / {state.num_it} points"


def summary_text(state: StaticState) -> str:
    """``LRFinderWidget: done, 100 / 100 points``, one line per shown rule, the LR in use."""
    lines = [_headline(state)]
    width = max((len(name) for name in state.shown), default=0)
    for name in state.rule_names:
        if name not in state.shown:
            continue
        result = None if state.analysis is None else state.analysis.rules.get(name)
        if result is not None and result.lr is not None:
            mark = "  (selected)" if name == state.selected else ""
            lines.append(f"  {name:<{width}}  {format_lr(float(result.lr))}{mark}")
        else:
            why = state.message or (result.reason if result is not None else None) or "no points"
            lines.append(f"  {name:<{width}}  —  ({why})")
    if state.custom_lr is not None:
        lines.append(f"  custom pick: {format_lr(state.custom_lr)}")
    used = "—" if state.lr is None else format_lr(state.lr)
    lines.append(f"lr = {used} ({state.selected})")
    for label, lrs in state.compared.columns:  # the other shown sweeps, one line each
        found = [f"{name} {format_lr(lr)}" for name, lr in lrs.items() if lr is not None]
        lines.append(f"{label}: {', '.join(found) or 'no suggestion'}")
    return "\n".join(lines)


def summary_html(state: StaticState, png: bytes) -> str:
    """The headline, the readout's table and the chart (``png``, when there is one)."""
    table = _readout.readout_html(
        state.analysis,
        state.message,
        rule_names=state.rule_names,
        shown=state.shown,
        selected=state.selected,
        positions={},
        points=0 if state.sweep is None else len(state.sweep),
        status=state.status,
        custom_lr=state.custom_lr,
        compared=state.compared,
    )
    parts = [f'<div class="lrw-static"><p><b>{html.escape(_headline(state))}</b></p>', table]
    if png:
        encoded = base64.b64encode(png).decode("ascii")
        alt = html.escape(summary_text(state).replace("\n", "; "), quote=True)
        parts.append(f'<img src="data:image/png;base64,{encoded}" alt="{alt}"/>')
    return "".join(parts) + "</div>"


def chart_png(state: StaticState) -> bytes:
    """The chart as PNG bytes: raw points, smoothed line, rule markers, shaded spans."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    FigureCanvasAgg(figure)  # its own canvas: pyplot's backend is not touched
    axes = figure.add_subplot()
    if state.sweep is not None:
        _draw(axes, state, *state.sweep.snapshot())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def _draw(axes: Any, state: StaticState, lrs: np.ndarray, losses: np.ndarray) -> None:
    analysis = state.analysis
    start_lr, end_lr = state.schedule
    axes.set_xscale("log")
    axes.set_xlim(start_lr, end_lr)
    axes.set_xlabel("learning rate")
    axes.set_ylabel("loss")
    axes.scatter(lrs, losses, s=6, color=RAW_COLOR, label="raw loss", zorder=2)
    if analysis is None:
        return
    count = analysis.sweep_length
    current = f"smoothed · {state.compared.label}" if state.compared.columns else "smoothed"
    axes.plot(lrs[:count], analysis.smoothed[:count], color=SMOOTHED_COLOR, label=current)
    for (label, _lrs), view in zip(state.compared.columns, state.compared.views, strict=False):
        axes.plot(view.curve_x, view.curve_y, color=SMOOTHED_COLOR, alpha=EARLIER_OPACITY,
                  ls=_DASHES.get(view.line_style, "--"), label=label)  # fmt: skip
    boundary = boundary_function(lrs[:count], state.num_it, start_lr, end_lr)
    for first, stop, label in analysis.excluded_spans:
        if stop > first:
            right = boundary(stop) if stop < count else end_lr
            color = SPAN_COLORS.get(label, "#8c8c8c")
            axes.axvspan(boundary(first), right, color=color, alpha=0.15, lw=0, zorder=0)
    for name in state.rule_names:
        result = analysis.rules.get(name)
        if name in state.shown and result is not None and result.lr is not None:
            lr = float(result.lr)
            width = 2.0 if name == state.selected else 1.0
            color = rule_color(name, state.rule_names)
            axes.axvline(lr, color=color, lw=width, label=f"{name} {format_lr(lr)}", zorder=3)
    if state.selected == CUSTOM and state.custom_lr is not None:
        axes.axvline(state.custom_lr, color="#708090", ls="--", label="custom pick")
    limits = _loss_limits(losses[:count], analysis.smoothed[:count], analysis.window)
    if limits is not None:
        axes.set_ylim(*limits)
    # Beside the plot, not on it: no place inside is free of points on every curve.
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def _loss_limits(
    losses: np.ndarray, smoothed: np.ndarray, window: tuple[int, int]
) -> tuple[float, float] | None:
    """The y range: the analysed window's raw and smoothed losses from its start to the
    lowest smoothed loss, padded, so that a divergence at the end cannot flatten the part
    that is read."""
    first, stop = window
    smooth = np.asarray(smoothed[first:stop], dtype=np.float64)
    finite = np.isfinite(smooth)
    if not finite.any():
        return None
    lowest = first + int(np.argmin(np.where(finite, smooth, np.inf)))
    values = np.concatenate(
        [
            np.asarray(losses[first : lowest + 1], dtype=np.float64),
            np.asarray(smoothed[first : lowest + 1], dtype=np.float64),
        ]
    )
    values = values[np.isfinite(values)]
    low, high = float(values.min()), float(values.max())
    pad = (high - low) * 0.1 if high > low else max(abs(low) * 0.1, 1e-3)
    return low - pad, high + pad


def state_of(
    sweep: Sweep | None,
    analysis: tuple[Analysis | None, str | None],
    display: tuple[Sequence[str], Sequence[str], str, float | None, float | None],
    schedule: tuple[float, float, int],
    compared: Compared | None = None,
) -> StaticState:
    """A :class:`StaticState` from the widget's values: ``display`` is (rule names, shown
    rules, selected, lr, custom LR), ``schedule`` (start_lr, end_lr, num_it) and
    ``compared`` the other shown sweeps."""
    rule_names, shown, selected, lr, custom_lr = display
    return StaticState(
        sweep=sweep,
        analysis=analysis[0],
        message=analysis[1],
        rule_names=tuple(rule_names),
        shown=tuple(shown),
        selected=selected,
        lr=lr,
        custom_lr=custom_lr,
        status="ready" if sweep is None else sweep.status,
        num_it=schedule[2],
        schedule=(schedule[0], schedule[1]),
        compared=compared or Compared(),
    )
