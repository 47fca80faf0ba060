"""What one redraw of the widget changes: the analysis it draws, and its frames.

A frame is the list of pending widget changes one redraw makes (each one comm message, so
its cost is known before it is sent).  :class:`Frames` composes them from plain values: the
chart's marks from the pure view, the readout and the status from :mod:`lrwidget._readout`,
the progress bar.  :class:`AnalysisCache` keeps the last :func:`~lrwidget.analyze` of the
sweep shown, so the many redraws between two changes of the settings or the points cost
nothing.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrwidget import _readout
from lrwidget._chart import LossChart
from lrwidget._compare_chart import CompareChart
from lrwidget._compare_view import Compared, widened_range
from lrwidget._controls import Controls
from lrwidget._errors import LRWidgetValueError
from lrwidget._evidence_chart import EvidenceChart
from lrwidget._evidence_view import EvidenceView, build_evidence
from lrwidget._shown_points import PointsMemo
from lrwidget._stream import Change
from lrwidget._style import rule_color
from lrwidget._trial_control import TrialState
from lrwidget._trials_chart import TrialsChart
from lrwidget._trials_view import TrialsView, build_trials_view, trial_cells, trials_progress
from lrwidget._view import (
    STREAM_MARKS,
    ChartView,
    build_view,
    marker_positions,
    stream_view,
)
from lrwidget._view_layout import loss_tick_format, pin_above
from lrwidget.analysis import Analysis, analyze, smoothed_losses
from lrwidget.settings import Settings
from lrwidget.sweep import Sweep


class AnalysisCache:
    """``analyze(sweep, settings)``, computed once per (sweep, its length, status, settings)."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._value: tuple[Analysis | None, str | None] = (None, None)

    def get(self, sweep: Sweep | None, settings: Settings) -> tuple[Analysis | None, str | None]:
        """The analysis, or None and why (settings valid for ``num_it`` points may not fit
        the points recorded so far); (None, None) with no points."""
        if sweep is None or len(sweep) == 0:
            return None, None
        key = (id(sweep), len(sweep), sweep.status, settings)
        if key == self._key:
            return self._value
        # The worker keeps appending while we analyse: work on a consistent copy.
        frozen = sweep if sweep.finished else sweep.frozen()
        analysis: Analysis | None = None
        message: str | None = None
        try:
            analysis = analyze(
                frozen,
                beta=settings.beta,
                smoothing=settings.smoothing,
                skip_start=settings.skip_start,
                skip_end=settings.skip_end,
                div_threshold=settings.div_threshold,
                methods=settings.methods,
            )
        except LRWidgetValueError as error:
            message = str(error)
        self._key = (id(sweep), len(frozen), *key[2:])
        self._value = (analysis, message)
        return self._value


@dataclass(frozen=True)
class Display:
    """What the user chose to see, besides the analysis settings."""

    settings: Settings
    shown: tuple[str, ...]
    selected: str
    selected_lr: float | None
    custom_lr: float | None
    visible: tuple[float, float] | None = None  # the zoomed LR range; None: all of it
    show_how: bool = True  # draw the selected rule's construction
    trials: TrialState | None = None  # the trial fits shown, if any


class Frames:
    """Builds the light and full frames of one widget (its chart and controls)."""

    def __init__(
        self,
        chart: LossChart,
        controls: Controls,
        rule_names: tuple[str, ...],
        schedule: tuple[float, float, int],
    ) -> None:
        self.chart, self.controls, self.rule_names = chart, controls, rule_names
        self.start_lr, self.end_lr, self.num_it = schedule
        self.evidence = EvidenceChart(chart.x_scale, chart.loss_scale)
        self.trials = TrialsChart(chart.x_scale)
        #: The earlier sweeps' curves and points, under the current sweep's curve.
        self.compare = CompareChart(
            chart.figure, chart.smoothed, {"x": chart.x_scale, "y": chart.loss_scale}
        )
        # The construction is drawn just above the smoothed curve, under markers and handles.
        marks = list(chart.figure.marks)
        above = marks.index(chart.smoothed) + 1
        chart.figure.marks = [*marks[:above], *self.evidence.overlay, *marks[above:]]
        #: The last full view drawn (light frames replace only its points and curve).
        self.view: ChartView | None = None
        #: What the redraws of the sweep shown share (its shown points, its boundaries).
        self.points = PointsMemo()
        self._shown: tuple[Sweep | None, Analysis | None] = (None, None)  # what hover reads
        chart.raw.on_hover(self._on_point_hover)
        chart.above.on_hover(self._on_point_hover)
        chart.points.on_hover(self._on_rule_hover)

    def light(
        self, sweep: Sweep | None, display: Display, trials_running: bool, progress: str = ""
    ) -> list[Change]:
        """Only the raw points, the smoothed line, the bar and the ``progress`` text: no
        ``analyze`` (valley alone costs milliseconds at thousands of points), no readout
        (the full update says the suggestions are on their way).  While trials run: their
        curves and the trials' progress text instead."""
        if trials_running and display.trials is not None:
            state = display.trials
            trials_view = build_trials_view(state.tried, state.trials, self.rule_names)
            frame = self.trials.changes(trials_view, curves_only=True)
            return frame + value_change(self.controls.progress_html, self.trials_progress(state))
        settings, visible = display.settings, display.visible
        if sweep is None or len(sweep) == 0 or self.view is None:
            return []
        frozen = sweep.frozen()
        smoothed = smoothed_losses(frozen, settings.beta, settings.smoothing)
        view = stream_view(self.view, frozen.lrs, frozen.losses, smoothed, visible)
        frame = self.chart.changes(view, only=STREAM_MARKS)
        frame += value_change(self.controls.progress, min(len(frozen), self.num_it))
        # The text moves with the bar: count, lr, elapsed and remaining between full updates.
        return frame + (value_change(self.controls.progress_html, progress) if progress else [])

    def full(
        self,
        sweep: Sweep | None,
        analysis: tuple[Analysis | None, str | None],
        display: Display,
        facts: _readout.StatusFacts,
        progress: str,
        stoppable: bool,
        compared: Compared | None = None,
    ) -> list[Change]:
        """Every mark, the readout, the progress bar and text, the status and Stop; with
        ``compared``, the earlier sweeps' marks and readout columns too."""
        compared = compared or Compared()
        view = self._view(sweep, analysis[0], display)
        if compared.views:
            shown = widened_range(view.loss_range, compared.views)
            if shown != view.loss_range:  # the dots pinned above it follow the new top
                pinned = pin_above(view.raw_x, view.raw_y, shown)
                view = self.view = dataclasses.replace(
                    view,
                    loss_range=shown,
                    loss_tick_format=loss_tick_format(shown),
                    above_x=pinned["above_x"],
                    above_y=pinned["above_y"],
                )
        self._shown = (sweep, analysis[0])
        lrs = sweep.lrs if sweep is not None else np.zeros(0)
        evidence = self._evidence(analysis[0], display, lrs)
        trials = self._trials(analysis[0], display)
        readout = _readout.readout_html(
            *analysis,
            rule_names=self.rule_names,
            shown=display.shown,
            selected=display.selected,
            positions=marker_positions(view),
            points=facts.count,
            status=facts.status,
            custom_lr=display.custom_lr,
            how=evidence.caption,
            trials=trials[1],
            compared=compared,
        )
        controls = self.controls
        # The readout first: the answer to a control leaves (and is shown) before the marks,
        # which the kernel's output thread and the page each handle one message at a time.
        frame = value_change(controls.readout_html, readout)
        frame += self.chart.changes(view) + self.evidence.changes(evidence)
        frame += self.trials.changes(trials[0]) + self.compare.changes(compared.views)
        bar = {"value": min(facts.count, self.num_it), "bar_style": _readout.bar_style(facts)}
        moved = {
            name: value for name, value in bar.items() if getattr(controls.progress, name) != value
        }
        if moved:
            frame.append((controls.progress, moved))
        frame += value_change(controls.progress_html, progress)
        frame += value_change(controls.status_html, _readout.status_html(facts))
        if controls.stop_button.disabled == stoppable:
            frame.append((controls.stop_button, {"disabled": not stoppable}))
        return frame

    def trials_progress(self, state: TrialState) -> str:
        """The progress text while trials run."""
        return trials_progress(state.tried, state.trials, state.batch, state.batches, state.eta())

    def _trials(
        self, analysis: Analysis | None, display: Display
    ) -> tuple[TrialsView, dict[str, str] | None]:
        """The trial charts' view, and the readout's trial cell per rule (None: no trials)."""
        state = display.trials
        if state is None or not state.tried:
            return TrialsView(), None
        suggestions = {} if analysis is None else {n: r.lr for n, r in analysis.rules.items()}
        view = build_trials_view(state.tried, state.trials, self.rule_names)
        return view, trial_cells(state.tried, state.trials, suggestions)

    def _on_point_hover(self, mark: Any, event: dict[str, Any]) -> None:
        """A raw dot (or one pinned above the data area) under the pointer: its batch."""
        sweep, analysis = self._shown
        lr = _hovered_x(event)
        smoothed = analysis.smoothed if analysis is not None else None
        mark.tooltip.value = _readout.point_tooltip(sweep, smoothed, lr)

    def _on_rule_hover(self, _mark: Any, event: dict[str, Any]) -> None:
        lr = _hovered_x(event)
        self.chart.points.tooltip.value = _readout.rule_tooltip(self._shown[1], lr)

    def _evidence(
        self, analysis: Analysis | None, display: Display, lrs: np.ndarray
    ) -> EvidenceView:
        """The selected rule's construction, when "show how" is on and the rule is shown."""
        rule = display.selected
        if not display.show_how or rule not in display.shown or self.view is None:
            return EvidenceView()
        color = rule_color(rule, self.rule_names)
        return build_evidence(analysis, rule, lrs, color, self.view.loss_range)

    def _view(self, sweep: Sweep | None, analysis: Analysis | None, display: Display) -> ChartView:
        if analysis is not None and sweep is not None:
            count = analysis.sweep_length
            lrs, losses = sweep.lrs[:count], sweep.losses[:count]
        elif sweep is not None:
            lrs, losses = sweep.snapshot()
        else:
            lrs, losses = np.zeros(0), np.zeros(0)
        settings = display.settings
        self.points.renew(sweep, len(lrs))  # a sweep only appends: it and a length name points
        self.view = build_view(
            lrs=np.asarray(lrs, dtype=np.float64),
            losses=np.asarray(losses, dtype=np.float64),
            analysis=analysis,
            shown=list(display.shown),
            rule_order=self.rule_names,
            selected_lr=display.selected_lr,
            selected_color=_readout.selected_color(display.selected, self.rule_names),
            custom_lr=display.custom_lr,
            num_it=self.num_it,
            start_lr=self.start_lr,
            end_lr=self.end_lr,
            skip_start=settings.skip_start if settings.skip_start is not None else 0,
            skip_end=settings.skip_end,
            div_threshold=settings.div_threshold,
            visible=display.visible,
            memo=self.points,
        )
        return self.view


def _hovered_x(event: dict[str, Any]) -> float:
    """The x of a bqplot hover message: a Scatter sends its point as ``data`` (bqplot 0.13.1,
    measured in Chromium); the base mark's handler sends ``point``."""
    point = event.get("data") or event.get("point") or {}
    return float(point.get("x", math.nan))


def value_change(control: Any, value: Any) -> list[Change]:
    """``control.value = value`` as a pending change, or nothing when it already holds it."""
    return [] if control.value == value else [(control, {"value": value})]
