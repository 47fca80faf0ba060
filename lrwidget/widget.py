"""LRFinderWidget: fastai's learning-rate finder as a live Jupyter widget.

The widget stores nothing derived: every control change calls :func:`lrwidget.analyze` on the
recorded raw sweep and redraws in place.  It wires the rooms together: the controls and their
table of bindings (:mod:`lrwidget._controls`), the background sweep (:mod:`lrwidget._runner`),
the message budget and update thread (:mod:`lrwidget._stream`), the pure view and the bqplot
marks (:mod:`lrwidget._view`, :mod:`lrwidget._chart`) and the text (:mod:`lrwidget._readout`).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np
import traitlets
from traitlets import Bool, Float, Int, List, Unicode, observe, validate

from lrwidget import _readout, _static
from lrwidget._boundaries import skip_for_handle
from lrwidget._chart import LossChart
from lrwidget._compare_control import CompareControl
from lrwidget._compare_row import build_compare_box
from lrwidget._controls import (
    BINDINGS,
    DIVERGENCE_MAX,
    DIVERGENCE_MIN,
    build_controls,
    theme_stylesheet,
)
from lrwidget._errors import LRWidgetValueError, SweepRunningError
from lrwidget._frames import AnalysisCache, Display, Frames
from lrwidget._peer_control import PeerControl
from lrwidget._readout import CUSTOM
from lrwidget._runner import (
    SweepRunner,
    check_run_arguments,
    holder_of,
    resolve_engine,
)
from lrwidget._static import StaticView
from lrwidget._stream import Change, FrameKind, StreamScheduler
from lrwidget._sweep_control import SweepControl
from lrwidget._sweep_list import check_repeats
from lrwidget._trial_control import TrialControl, TrialState
from lrwidget._view import divergence_for_level
from lrwidget.settings import BEST, DISPLAY_CHECKS, Settings, check_preset, check_selected
from lrwidget.suggest import DEFAULT_RULES, RuleSpec
from lrwidget.sweep import Sweep

if TYPE_CHECKING:
    from lrwidget.analysis import Analysis

#: After a pan or zoom, the points of the visible range are redrawn once the axis has rested
#: this long (seconds): a drag sends many range changes.
ZOOM_REST = 0.15


class LRFinderWidget(SweepControl, TrialControl, PeerControl, CompareControl, widgets.VBox):
    """fastai's learning-rate finder as a live widget: Run, watch, tune, apply.

    Display it as the last expression of a cell, press Run (or call :meth:`start`); the
    sweep runs in a background thread while the chart streams.  Every control re-runs
    :func:`lrwidget.analyze` on the recorded raw losses — no new sweep.  The kernel's
    interrupt button stops a running sweep as Stop does.

    Args:
        learn: A fastai ``Learner``; it is restored after the sweep exactly as
            :func:`lrwidget.run_sweep` guarantees.  Use :meth:`from_sweep` to open a
            recorded sweep without one.
        start_lr, end_lr, num_it, stop_div: As in ``Learner.lr_find``.
        methods: Rules to compute: names from ``lrwidget.suggest.RULES`` or callables
            ``f(lrs, losses, num_it) -> (lr, (x, y))``.
        beta, smoothing, skip_start, skip_end, div_threshold, selected: Initial settings
            (see the traits of the same names and :class:`lrwidget.Settings`).
        preset: Whose rules to start with: "fastai", "torch-lr-finder" or "lightning"
            (:data:`lrwidget.presets`); any but "fastai" sets the smoothing, the window and
            the rules to that tool's, over the settings above.
        engine: What runs the sweep: an object with ``run_sweep(learn, start_lr, end_lr,
            num_it, stop_div, *, on_batch, stop, sweep) -> Sweep`` and optionally
            ``check_arguments(learn, start_lr, end_lr, num_it, stop_div)``.  None means
            fastai's (:mod:`lrwidget._fastai`).

    Raises:
        LRWidgetValueError: for any invalid argument, before anything runs.

    The controls are ``widget.controls`` (:class:`lrwidget._controls.Controls`, with the DOM
    classes listed there); this box has ``lrw-root`` and the chart ``lrw-figure``.

    Example:
        >>> widget = LRFinderWidget(learn)          # doctest: +SKIP
        >>> widget                                  # doctest: +SKIP
        >>> widget.run(); widget.beta = 0.9         # doctest: +SKIP
        >>> widget.apply(); learn.fit_one_cycle(3)  # doctest: +SKIP
    """

    beta = Float(0.98, help="EMA smoothing factor in [0, 1); fastai uses 0.98.")
    smoothing = Unicode("ema", help='"ema" (fastai\'s, lagging) or "centred" (zero-lag).')
    skip_start = Int(10, help="Points left out at the start (fastai: num_it // 10).")
    skip_end = Int(5, help="Points left out at the end (fastai: 5).")
    div_threshold = Float(
        None,
        allow_none=True,
        help="Cut the analysis where the smoothed loss exceeds this "
        "multiple of its minimum so far; None = off (fastai's suggestions).",
    )
    selected = Unicode("valley", help='The rule whose LR `lr` returns, or "custom".')
    shown_rules = List(Unicode(), help="The rules drawn on the chart and in the readout.")
    custom_lr = Float(None, allow_none=True, help="The LR picked by clicking the chart.")
    show_how = Bool(True, help="Draw how the selected rule finds its LR (its construction).")
    preset = Unicode(
        "fastai", help='Whose rules: "fastai", "torch-lr-finder" or "lightning" (lrwidget.presets).'
    )
    current_sweep = Int(
        -1, help="Index in `sweeps` of the sweep `lr` and `apply()` use (-1: none)."
    )
    shown_sweeps = List(Int(), help="Indices in `sweeps` of the sweeps drawn (the current always).")
    repeats = Int(1, help="Sweeps per Run, each with another data order (1: one plain sweep).")

    def __init__(
        self,
        learn: Any,
        start_lr: float = 1e-7,
        end_lr: float = 10,
        num_it: int = 100,
        stop_div: bool = True,
        methods: Sequence[RuleSpec] = DEFAULT_RULES,
        *,
        beta: float = 0.98,
        smoothing: str = "ema",
        skip_start: int | None = None,
        skip_end: int = 5,
        div_threshold: float | None = None,
        selected: str | None = None,
        preset: str = "fastai",
        engine: Any = None,
        _sweep: Sweep | None = None,
    ) -> None:
        # Validate everything before building anything (and long before any training).
        self._engine = resolve_engine(engine, learn)
        check_run_arguments(self._engine, learn, start_lr, end_lr, num_it, stop_div)
        self.num_it = int(num_it)
        skip = self.num_it // 10 if skip_start is None else skip_start
        checked = Settings(beta, smoothing, skip, skip_end, div_threshold, methods).check()
        self._learn = learn
        self.start_lr, self.end_lr, self.stop_div = float(start_lr), float(end_lr), bool(stop_div)
        self.methods: tuple[RuleSpec, ...] = tuple(checked.methods)
        self._own_methods = self.methods  # what "rules of: fastai" goes back to
        self.rule_names: tuple[str, ...] = checked.rule_names
        if selected is None:
            selected = "valley" if "valley" in self.rule_names else self.rule_names[0]
        check_selected(selected, self.rule_names)
        check_preset(preset)
        self._lock = threading.RLock()  # the sweep shown, the notes
        self._ready = self._syncing = False
        self._sweep: Sweep | None = _sweep
        self._start_keeping(_sweep, follow_skip=skip_start is None)  # sweeps and their caches
        self._notice = ""  # a rejected control value, shown until the next good one
        self._run_refused = ""  # a refused Run click, news while that sweep runs
        self._run_queued = False  # Run pressed while the stopped sweep was still ending
        self._analyses = AnalysisCache()
        self._trial_state = TrialState()
        self._visible: tuple[float, float] | None = None  # the zoomed LR range
        self._zoom_timer: threading.Timer | None = None
        self._runner = SweepRunner(self._on_batch, self._on_sweep_end)
        self._chart = LossChart(self.start_lr, self.end_lr)
        self.controls = build_controls(self.rule_names, self.num_it, learn is not None)
        self._frames = Frames(
            self._chart, self.controls, self.rule_names, (self.start_lr, self.end_lr, self.num_it)
        )
        self._stream = StreamScheduler(self._frame, self._chart.send)
        self._compare_parts = build_compare_box(learn is not None)
        super().__init__(children=self._rows(), layout=widgets.Layout(width="100%"))
        self.add_class("lrw-root")
        self._start_showing(checked, selected, preset)

    def _rows(self) -> list[widgets.Widget]:
        """The widget's children: the stylesheet (the label colours of the theme on screen),
        then the controls' rows with the chart, the legend and compare row, the "show how"
        panel and the trial figures in their place, and the repeats box beside Run."""
        legend, *_, repeats, compare_row = self._compare_parts
        figures = (self._chart.figure, legend, compare_row, self._frames.evidence.panel)
        rows = self.controls.rows(theme_stylesheet(), *figures, *self._frames.trials.figures)
        buttons = rows[0]  # Run, Stop, Try, Zoom, status: "× repeats" goes beside Run
        buttons.children = (*buttons.children[:1], repeats, *buttons.children[1:])
        return rows

    def _start_showing(self, checked: Settings, selected: str, preset: str) -> None:
        """Set the traits from the checked settings (or the preset), connect, draw."""
        self.beta, self.smoothing = checked.beta, checked.smoothing
        self.skip_start, self.skip_end = int(checked.skip_start or 0), checked.skip_end
        self.div_threshold = checked.div_threshold
        self.shown_rules = list(self.rule_names)
        self.selected = selected
        if self._sweep is not None:
            self.current_sweep, self.shown_sweeps = 0, [0]
        if preset != "fastai":
            self._apply_preset(preset)
        self.preset = preset
        self._sync_controls()
        self._connect()
        self._ready = True
        self._refresh()

    @classmethod
    def from_sweep(
        cls, sweep: Sweep, methods: Sequence[RuleSpec] = DEFAULT_RULES, **settings: Any
    ) -> LRFinderWidget:
        """Open a finished (or saved) sweep: every control works, no Learner is needed.

        Args:
            sweep: A :class:`~lrwidget.Sweep`, e.g. ``Sweep.from_arrays(lrs, losses)``.
            methods: As in the constructor.
            settings: ``beta``, ``smoothing``, ``skip_start``, ``skip_end``,
                ``div_threshold``, ``selected``, ``preset`` (by default the sweep's own).

        Example:
            >>> LRFinderWidget.from_sweep(Sweep.from_arrays(lrs, losses))  # doctest: +SKIP
        """
        if not isinstance(sweep, Sweep):
            raise TypeError(
                f"from_sweep expects a lrwidget.Sweep; got {type(sweep).__name__}. Build one "
                "with Sweep.from_arrays(lrs, losses) or read a saved one."
            )
        schedule = (sweep.start_lr, sweep.end_lr, sweep.num_it, sweep.stop_div)
        settings.setdefault("preset", getattr(sweep, "preset", None) or "fastai")
        return cls(None, *schedule, methods, _sweep=sweep, **settings)

    def _connect(self) -> None:
        controls = self.controls
        controls.run_button.on_click(self._on_run_clicked)
        controls.try_button.on_click(self._on_try_clicked)
        controls.stop_button.on_click(lambda _button: self.stop())
        for binding in BINDINGS:
            for name in binding.controls:
                getattr(controls, name).observe(self._on_control, names="value")
        self._chart.handles.on_drag_end(self._on_handle_dragged)
        self._chart.divergence_handle.on_drag_end(self._on_divergence_dragged)
        self._chart.pick.observe(self._on_pick, names="x")
        controls.zoom_toggle.observe(lambda change: self._chart.set_zoom(change["new"]), "value")
        dropdown, repeats = self._compare_parts[1], self._compare_parts[3]
        dropdown.observe(self._on_current_picked, names="value")
        repeats.observe(self._on_repeats_typed, names="value")
        self._chart.x_scale.observe(self._on_zoom, names=["min", "max"])

    # ----------------------------------------------------------------------------------------
    # traits: validation, and the controls <-> traits table
    @property
    def settings(self) -> Settings:
        """The current analysis settings (what :attr:`analysis` is computed with)."""
        return Settings(
            self.beta,
            self.smoothing,
            self.skip_start,
            self.skip_end,
            self.div_threshold,
            self.methods,
        )

    @validate("beta", "smoothing", "skip_start", "skip_end", "div_threshold")
    def _validate_setting(self, proposal: traitlets.Bunch) -> Any:
        if not hasattr(self, "methods"):
            return proposal["value"]  # class defaults, before __init__ has checked anything
        self.settings.replace(**{proposal["trait"].name: proposal["value"]}).check()
        return proposal["value"]

    @validate("selected", "shown_rules", "custom_lr", "preset")
    def _validate_display(self, proposal: traitlets.Bunch) -> Any:
        if not hasattr(self, "rule_names"):
            return proposal["value"]  # class defaults, before __init__ has checked anything
        check = DISPLAY_CHECKS[proposal["trait"].name]
        return check(proposal["value"], self.rule_names)

    def _sync_controls(self) -> None:
        """Move every control to its trait's value (traits are the source of truth)."""
        self._syncing = True
        try:
            for binding in BINDINGS:
                binding.show(self.controls, getattr(self, binding.trait))
            self._compare_parts[3].value = self.repeats
            smoothed_already = bool(self._recorded_smoothed())
            self.controls.smoothing_dropdown.disabled = smoothed_already
            self.controls.beta_slider.disabled = smoothed_already
        finally:
            self._syncing = False

    def _on_control(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        owner = change["owner"]
        updates = {
            binding.trait: binding.read(self.controls)
            for binding in BINDINGS
            if any(getattr(self.controls, name) is owner for name in binding.controls)
        }
        self._apply_updates(updates)

    def _apply_updates(self, updates: dict[str, Any]) -> None:
        """Set traits from a browser event; a rejected value is shown, never raised there."""
        try:
            with self.hold_trait_notifications():
                for name, value in updates.items():
                    setattr(self, name, value)
            self._notice = ""
        except (LRWidgetValueError, traitlets.TraitError) as error:
            self._notice = str(error)
            self._sync_controls()
            self._refresh()

    @observe(*(binding.trait for binding in BINDINGS), "custom_lr")
    def _on_setting(self, change: dict[str, Any]) -> None:
        if change["name"] == "skip_start" and not self._following_skip:
            sweep = self.sweep
            num_it = sweep.num_it if sweep is not None else self.num_it
            self._skip_start_follows = change["new"] == num_it // 10
        if self._ready:
            if change["name"] == "preset":
                self._apply_preset(change["new"])
            self._sync_controls()
            self._refresh()

    @validate("current_sweep", "shown_sweeps", "repeats")
    def _validate_sweeps(self, proposal: traitlets.Bunch) -> Any:
        name, value = proposal["trait"].name, proposal["value"]
        if name == "repeats":
            check_repeats(value, None if value == 1 else 0, self._engine)
            return value
        count = len(self._sweeps) if hasattr(self, "_sweeps") else 0
        wrong = [value] if name == "current_sweep" else list(value)
        wrong = [index for index in wrong if not (0 <= index < count or index == -1 == count - 1)]
        if wrong:
            raise LRWidgetValueError(
                f"{name} must hold indices of widget.sweeps (0 to {count - 1}); got {value!r}. "
                "Pick from range(len(widget.sweeps))."
            )
        return sorted(set(value)) if name == "shown_sweeps" else value

    @observe("current_sweep", "shown_sweeps", "repeats")
    def _on_sweeps_setting(self, change: dict[str, Any]) -> None:
        if change["name"] == "current_sweep" and change["new"] < 0:
            with self._lock:
                self._sweep = None
        elif change["name"] == "current_sweep":
            with self._lock:
                sweep = self._sweeps[change["new"]]
                self._sweep = sweep
            self._frames.num_it = sweep.num_it
            if self._skip_start_follows and self.skip_start != sweep.num_it // 10:
                self._following_skip = True
                try:
                    self.skip_start = sweep.num_it // 10
                finally:
                    self._following_skip = False
            self._sync_controls()
        if change["name"] == "repeats":
            self._sync_controls()
        if self._ready:
            self._refresh()

    # ----------------------------------------------------------------------------------------
    # chart events
    def _on_handle_dragged(self, _mark: Any, event: dict[str, Any]) -> None:
        """A cut-off handle was dropped: snap it to the nearest point boundary."""
        lr = float(event.get("point", {}).get("x", math.nan))
        sweep = self.sweep
        lrs = sweep.lrs if sweep is not None else np.zeros(0)
        schedule = (self.num_it, self.start_lr, self.end_lr)
        self._apply_updates(skip_for_handle(int(event.get("index", 0)), lr, lrs, *schedule))
        self._refresh()  # the handle snaps back to a boundary even when nothing changed

    def _on_divergence_dragged(self, _mark: Any, event: dict[str, Any]) -> None:
        level = float(event.get("point", {}).get("y", math.nan))
        threshold = divergence_for_level(self.analysis, level, DIVERGENCE_MIN, DIVERGENCE_MAX)
        if threshold is not None:
            self._apply_updates({"div_threshold": threshold})
        self._refresh()  # the handle goes back to the threshold's level

    def _on_pick(self, change: dict[str, Any]) -> None:
        """A click on the chart's background added a point: that is the custom LR."""
        if self._chart.drawing or change["new"] is None or len(change["new"]) == 0:
            return
        lr = float(np.asarray(change["new"])[-1])
        if math.isfinite(lr) and lr > 0:
            with self.hold_trait_notifications():
                self.custom_lr = min(max(lr, self.start_lr), self.end_lr)
                self.selected = CUSTOM

    def _on_zoom(self, _change: dict[str, Any]) -> None:
        """The LR axis was panned or zoomed: redraw the points of the visible range from the
        full sweep, once the mouse has rested (a pan sends many range changes)."""
        self._visible = self._chart.visible()
        with self._lock:
            if self._zoom_timer is not None:
                self._zoom_timer.cancel()
            self._zoom_timer = threading.Timer(ZOOM_REST, self._refresh)
            self._zoom_timer.daemon = True
            self._zoom_timer.start()

    # ----------------------------------------------------------------------------------------
    # public API
    @property
    def learn(self) -> Any:
        """The Learner (None for a widget opened with :meth:`from_sweep`)."""
        return self._learn

    @property
    def sweep(self) -> Sweep | None:
        """The sweep shown: running, finished or loaded (None before the first Run)."""
        with self._lock:
            return self._sweep

    @property
    def status(self) -> str:
        """``"ready"`` before any sweep, else the sweep's status."""
        sweep = self.sweep
        return "ready" if sweep is None else sweep.status

    @property
    def running(self) -> bool:
        """True while a sweep runs in the background."""
        return self._runner.running

    @property
    def analysis(self) -> Analysis | None:
        """``analyze`` of the recorded points with the current settings (None with no
        points, or when the settings do not fit the points recorded so far)."""
        return self._analyze()[0]

    @property
    def suggestions(self) -> Any:
        """fastai-style ``SuggestedLRs`` for the current settings (equal to the engine's)."""
        analysis = self.analysis
        return None if analysis is None else analysis.suggestions

    @property
    def lr(self) -> float | None:
        """The selected rule's LR, the custom pick (``selected == "custom"``) or the best
        trial's LR (``selected == "best trial"``)."""
        if self.selected == CUSTOM:
            return self.custom_lr
        if self.selected == BEST:
            return self._best_lr()
        analysis = self.analysis
        result = None if analysis is None else analysis.rules.get(self.selected)
        return None if result is None or result.lr is None else float(result.lr)

    def apply(self) -> float:
        """Set ``learn.lr`` to :attr:`lr`, so ``learn.fit_one_cycle(n)`` uses it.

        Returns:
            The learning rate set.

        Raises:
            RuntimeError: with no Learner (a widget from :meth:`from_sweep`).
            SweepRunningError: while a sweep runs on the Learner (it would put the old
                ``learn.lr`` back when it ends).
            LRWidgetValueError: when the selected rule gave no LR.
        """
        if self._learn is None:
            raise RuntimeError(
                "apply() needs a Learner, and this widget was opened from a recorded sweep. "
                "Set it yourself: learn.lr = widget.lr."
            )
        if holder_of(self._learn) is not None:
            raise SweepRunningError(
                "apply() refused: a sweep is running on this Learner and restores it, "
                "learn.lr included, when it ends. Call widget.wait() (or widget.stop()) "
                "first, then widget.apply()."
            )
        lr = self.lr
        if lr is None:
            analysis, message = self._analyze()
            result = None if analysis is None else analysis.rules.get(self.selected)
            reason = (result and result.reason) or message or "there are no recorded points yet"
            raise LRWidgetValueError(_readout.no_lr_message(self.selected, reason))
        set_lr = getattr(self._engine, "apply", None)  # plain PyTorch: the optimizer's groups
        if set_lr is not None:
            set_lr(self._learn, lr)
        else:
            self._learn.lr = lr
        return lr

    # ----------------------------------------------------------------------------------------
    # analysis and frames
    def _analyze(self) -> tuple[Analysis | None, str | None]:
        return self._analyses.get(self.sweep, self.settings)

    def _refresh(self) -> None:
        """Redraw everything now (a control, a setting, a start): sent at once."""
        if getattr(self, "_ready", False):
            self._stream.redraw()

    def _frame(self, kind: FrameKind) -> list[Change]:
        """The pending changes of a light (points, smoothed line, bar) or full frame."""
        sweep, runner = self.sweep, self._runner
        with self._lock:
            trials = dataclasses.replace(self._trial_state, trials=list(self._trial_state.trials))
        display = Display(
            self.settings,
            tuple(self.shown_rules),
            self.selected,
            self.lr,
            self.custom_lr,
            self._visible,
            self.show_how,
            trials,
        )
        trials_running = runner.running and runner.kind == "trials"
        elapsed = runner.elapsed() if sweep is runner.sweep else None
        progress = _readout.progress_text(sweep, self.num_it, elapsed, runner.running)
        if kind == "light":
            return self._frames.light(sweep, display, trials_running, progress)
        analysis = self._analyze()
        facts = _readout.status_facts(
            sweep, analysis[0], num_it=self.num_it, has_learner=self._learn is not None
        )
        facts = dataclasses.replace(facts, notes=self._notes())
        if trials_running:
            facts = dataclasses.replace(facts, status="running", notes=("trials", *facts.notes))
            progress = self._frames.trials_progress(trials)
        stoppable = runner.running or self._holder() is not None
        compared, compare_row = self._compare_frame()
        frame = self._frames.full(sweep, analysis, display, facts, progress, stoppable, compared)
        # What the user reads goes first: a frame bigger than the message budget goes out in
        # parts a second apart, and the end of a sweep must not wait behind its marks.
        controls = self.controls
        texts = (
            controls.readout_html,
            controls.status_html,
            controls.progress_html,
            controls.progress,
            controls.stop_button,
        )
        first = [change for change in frame if any(change[0] is text for text in texts)]
        rest = [change for change in frame if not any(change[0] is text for text in texts)]
        return first + compare_row + rest

    def _notes(self) -> tuple[str, ...]:
        """What the status line adds: a refused value, drawing errors, who holds the Learner."""
        runner = self._runner
        holder = None if runner.running else self._holder()
        notes = [self._notice, self._recorded_smoothed()]
        for error in (runner.draw_error, self._stream.error):
            if error is not None:
                notes.append(f"error while drawing: {error!r}")
        if holder is not None:
            notes.append(self._busy_message(holder).replace("Run refused: ", ""))
        if self._run_queued:
            notes.append("Run pressed: the new sweep starts once this one has ended")
        elif self._run_refused and runner.running:
            notes.append(self._run_refused)
        return tuple(note for note in notes if note)

    def static_view(self) -> StaticView:
        """The widget as it is now, as text and HTML with a PNG of the chart: displaying it
        shows that in any notebook viewer, no widget needed.

        A widget's own output is computed when the cell displays it, often before its sweep
        has run, and Jupyter never updates it: a notebook saved after the sweep keeps that
        first summary for viewers without widgets.  Display ``widget.static_view()`` in a
        later cell to save the final state.

        Example:
            >>> widget.run(); widget.static_view()  # doctest: +SKIP
        """
        schedule = (self._frames.start_lr, self._frames.end_lr, self._frames.num_it)
        shown = (self.rule_names, tuple(self.shown_rules), self.selected, self.lr, self.custom_lr)
        state = _static.state_of(self.sweep, self._analyze(), shown, schedule, self._compared()[0])
        return _static.static_view(state)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """ipywidgets' widget view, with the static view's text and HTML for viewers
        without widgets (computed now: see :meth:`static_view`)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        return {**bundle, **self.static_view()._repr_mimebundle_()}

    def __repr__(self) -> str:
        return (
            f"LRFinderWidget(status={self.status!r}, lr={self.lr!r}, selected={self.selected!r},"
            f" points={len(self.sweep) if self.sweep is not None else 0})"
        )


def _value_change(control: widgets.Widget, value: Any) -> list[Change]:
    """``control.value = value`` as a pending change, or nothing when it already holds it."""
    return [] if control.value == value else [(control, {"value": value})]
