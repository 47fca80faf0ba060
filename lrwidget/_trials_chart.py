"""The trial charts (see :mod:`lrwidget._trials_view`), hidden until a trial has run.

* ``valid_figure`` (DOM class ``lrw-trials``) shares the sweep chart's LR scale, so each
  trial's validation loss sits right under the marker of the rule that suggested it;
  ``best`` rings the lowest.
* ``curves_figure`` (``lrw-trial-curves``): the training loss against the batch, one line
  per trial in its rule's colour, streaming while the trials run.
"""

from __future__ import annotations

from typing import Any

import bqplot

from lrwidget._chart import mark_changes
from lrwidget._stream import Change
from lrwidget._trials_view import BEST_COLOR, TrialsView

_QUIET: dict[str, Any] = {"enable_hover": False, "interactions": {}}
#: The marks a streamed update of running trials redraws.
CURVE_MARKS = ("valid", "best", "curves")
_PLAN: tuple[tuple[str, dict[str, str]], ...] = (
    ("valid", {"x": "valid_x", "y": "valid_y", "colors": "valid_colors"}),
    ("best", {"x": "best_x", "y": "best_y"}),
    (
        "curves",
        {"x": "curves_x", "y": "curves_y", "colors": "curve_colors", "labels": "curve_labels"},
    ),
)


class TrialsChart:
    """The validation-loss strip under the sweep chart and the training-loss curves."""

    def __init__(self, x_scale: Any) -> None:
        self.valid_scale = bqplot.LinearScale()
        self.valid = bqplot.Scatter(
            scales={"x": x_scale, "y": self.valid_scale},
            default_size=110,
            stroke="white",
            colors=["#7f7f7f"],
            **_QUIET,
        )
        self.best = bqplot.Scatter(
            scales={"x": x_scale, "y": self.valid_scale},
            default_size=420,
            fill=False,
            stroke_width=3.0,
            colors=[BEST_COLOR],
            **_QUIET,
        )
        self.valid_figure = bqplot.Figure(
            marks=[self.best, self.valid],
            axes=[
                bqplot.Axis(scale=x_scale, tick_format=".0e", grid_lines="dashed"),
                bqplot.Axis(
                    scale=self.valid_scale,
                    side="left",
                    tick_format=".3g",
                    num_ticks=3,
                    label="valid loss",
                    grid_lines="dashed",
                ),
            ],
            **_figure("150px"),
        )
        self.valid_figure.add_class("lrw-trials")
        batch_scale, loss_scale = bqplot.LinearScale(), bqplot.LinearScale()
        self.curves = bqplot.Lines(
            scales={"x": batch_scale, "y": loss_scale},
            stroke_width=1.8,
            colors=["#7f7f7f"],
            display_legend=True,
            **_QUIET,
        )
        self.curves_figure = bqplot.Figure(
            marks=[self.curves],
            axes=[
                bqplot.Axis(scale=batch_scale, label="batch", tick_format="d"),
                bqplot.Axis(
                    scale=loss_scale,
                    side="left",
                    tick_format=".3g",
                    num_ticks=5,
                    label="train loss",
                    grid_lines="dashed",
                ),
            ],
            legend_location="top-right",
            **_figure("220px"),
        )
        self.curves_figure.add_class("lrw-trial-curves")

    @property
    def figures(self) -> list[Any]:
        return [self.valid_figure, self.curves_figure]

    def changes(self, view: TrialsView, *, curves_only: bool = False) -> list[Change]:
        """What drawing ``view`` changes (``curves_only``: the marks a streamed update moves)."""
        plan = [entry for entry in _PLAN if not curves_only or entry[0] in CURVE_MARKS]
        pending = mark_changes(self, plan, view)
        display = "flex" if view.shown else "none"
        for figure in self.figures:
            if figure.layout.display != display:
                pending.append((figure.layout, {"display": display}))
        return pending


def _figure(height: str) -> dict[str, Any]:
    return {
        "animation_duration": 0,
        # bqplot's own pan/zoom toolbar would move the LR scale shared with the sweep chart
        # behind the widget's Zoom toggle.
        "display_toolbar": False,
        "fig_margin": {"top": 10, "bottom": 35, "left": 65, "right": 20},
        "min_aspect_ratio": 0.01,
        "layout": {"width": "100%", "height": height, "display": "none"},
    }
