"""LRFinderWidget: fastai's learning-rate finder as a live Jupyter widget.

The widget stores nothing derived: every control change calls :func:`lrwidget.analyze` on the
recorded raw sweep and redraws the chart in place (:mod:`lrwidget._chart`).  Sweeps run in a
background thread so the cell returns at once and every control stays live.
"""

from __future__ import annotations

import functools
import html
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import ipywidgets as widgets
import numpy as np
import traitlets
from traitlets import Float, Int, List, Unicode, observe, validate

from lrwidget._chart import (
    CUSTOM_COLOR,
    STREAM_MARKS,
    Change,
    ChartView,
    LossChart,
    boundary_lrs,
    build_view,
    divergence_reference,
    format_lr,
    marker_positions,
    nearest_boundary,
    rule_color,
    stream_view,
)
from lrwidget._errors import LRWidgetValueError
from lrwidget.analysis import analyze, smoothed_losses
from lrwidget.sweep import Sweep

if TYPE_CHECKING:
    from lrwidget.analysis import Analysis

DEFAULT_METHODS: tuple[str, ...] = ("minimum", "steep", "valley", "slide")
SMOOTHING_OPTIONS: tuple[tuple[str, str], ...] = (
    ("EMA (fastai)", "ema"),
    ("centred (zero-lag)", "centred"),
)
CUSTOM = "custom"
#: Streaming never lets the widget's comm messages (every widget updated is one message) pass
#: this many in any one second, counting every message it sends: streamed updates, the final
#: update, and the redraws that answer a control (which are sent at once, and which the
#: streamed updates then make room for).
MAX_MESSAGES_PER_SECOND = 20
#: Streamed updates are at least this far apart.
UPDATE_INTERVAL = 0.05
#: Streamed redraws may use at most 1/DRAW_SHARE of the CPU time (see _next_stream_time),
#: but are never held back more than MAX_STREAM_INTERVAL on that account.
DRAW_SHARE = 5.0
MAX_STREAM_INTERVAL = 0.1
#: While a sweep streams, the whole chart, the readout and the progress text are redrawn at
#: most this often; the updates in between are light: the raw points, the smoothed line and
#: the progress bar, at most LIGHT_MESSAGES messages, about 6 per second within the budget.
#: A full update costs up to about 17 messages, so the second around it has room for one
#: light update.
FULL_STREAM_INTERVAL = 2.0
LIGHT_MESSAGES = 3
_BETA_MAX = 0.999
_DIV_MIN, _DIV_MAX, _DIV_DEFAULT = 1.5, 10.0, 4.0

Method = str | Callable[..., Any]
RefreshKind = Literal["control", "stream", "points", "final"]


def _rule_name(method: Method) -> str:
    if isinstance(method, str):
        return method
    if isinstance(method, functools.partial):
        return str(method.func.__name__)
    return str(getattr(method, "__name__", repr(method)))


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d} min"


class LRFinderWidget(widgets.VBox):
    """fastai's learning-rate finder as a live widget: Run, watch, tune, apply.

    Display it as the last expression of a cell, press Run (or call :meth:`start`); the
    sweep runs in a background thread while the chart streams.  Every control re-runs
    :func:`lrwidget.analyze` on the recorded raw losses — no new sweep.

    Args:
        learn: A fastai ``Learner``; it is restored after the sweep exactly as
            :func:`lrwidget._fastai.run_sweep` guarantees.  Use :meth:`from_sweep` to open a
            recorded sweep without one.
        start_lr, end_lr, num_it, stop_div: As in ``Learner.lr_find``.
        methods: Rules to compute: names from ``lrwidget.suggest.RULES`` or callables
            ``f(lrs, losses, num_it) -> (lr, (x, y))``.
        beta, smoothing, skip_start, skip_end, div_threshold, selected: Initial settings
            (see the traits of the same names).

    Raises:
        LRWidgetValueError: for any invalid argument, before anything runs.

    DOM classes (browser tests rely on them): ``lrw-root`` (this box), ``lrw-run``,
    ``lrw-stop``, ``lrw-status``, ``lrw-progress``, ``lrw-progress-text``, ``lrw-beta``,
    ``lrw-smoothing``, ``lrw-skip-start``, ``lrw-skip-end``, ``lrw-div-enabled``,
    ``lrw-div-threshold``, ``lrw-rules``, ``lrw-selected``, ``lrw-readout``, ``lrw-figure``.
    The readout is a ``<table data-points=N data-status=S>`` with one
    ``<tr data-rule=NAME data-lr=REPR data-x=REPR>`` per shown rule.

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

    def __init__(
        self,
        learn: Any,
        start_lr: float = 1e-7,
        end_lr: float = 10,
        num_it: int = 100,
        stop_div: bool = True,
        methods: Sequence[Method] = DEFAULT_METHODS,
        *,
        beta: float = 0.98,
        smoothing: str = "ema",
        skip_start: int | None = None,
        skip_end: int = 5,
        div_threshold: float | None = None,
        selected: str | None = None,
        engine: Any = None,
        _sweep: Sweep | None = None,
    ) -> None:
        # Validate everything before building anything (and long before any training).
        self._engine = _resolve_engine(engine, learn)
        _check_run_arguments(self._engine, learn, start_lr, end_lr, num_it, stop_div)
        self._learn = learn
        self.start_lr = float(start_lr)
        self.end_lr = float(end_lr)
        self.num_it = int(num_it)
        self.stop_div = bool(stop_div)
        if isinstance(methods, str) or not isinstance(methods, Sequence) or not methods:
            raise LRWidgetValueError(
                f"methods must be a non-empty sequence of rule names or callables; got "
                f"{methods!r}. Pass e.g. methods=('minimum', 'steep', 'valley', 'slide')."
            )
        self.methods: tuple[Method, ...] = tuple(methods)
        self.rule_names: tuple[str, ...] = tuple(_rule_name(method) for method in self.methods)
        self._probe = Sweep.from_arrays(
            np.geomspace(self.start_lr, self.end_lr, self.num_it, endpoint=False),
            np.ones(self.num_it),
            num_it=self.num_it,
            start_lr=self.start_lr,
            end_lr=self.end_lr,
        )
        resolved_skip_start = self.num_it // 10 if skip_start is None else skip_start
        initial = {
            "beta": beta,
            "smoothing": smoothing,
            "skip_start": resolved_skip_start,
            "skip_end": skip_end,
            "div_threshold": div_threshold,
        }
        self._check_settings(initial, methods=self.methods)
        if selected is None:
            selected = "valley" if "valley" in self.rule_names else self.rule_names[0]
        self._check_selected(selected)

        self._lock = threading.RLock()  # shared state: sweep, worker, errors, timer
        self._draw_lock = threading.RLock()  # one redraw at a time, whichever thread
        self._ready = False
        self._syncing = False
        self._sweep: Sweep | None = _sweep
        self._worker: threading.Thread | None = None
        self._update_thread: threading.Thread | None = None
        # Set when the current sweep has ended (its result and status are final), and when
        # its last update has gone out to the chart (up to about a second later: the budget).
        self._ended = threading.Event()
        self._ended.set()
        self._drawn = threading.Event()
        self._drawn.set()
        self._stop_event: threading.Event | None = None
        self._error: BaseException | None = None
        self._background_error: BaseException | None = None
        self._notice = ""
        # A refused Run click is news only while the sweep that caused it runs.
        self._run_refused = ""
        self._started_at: float | None = None
        self._ended_at: float | None = None
        self._last_update = -math.inf
        self._last_draw_seconds = 0.0
        self._last_full_update = -math.inf
        # (time, messages) of every update sent in the last second: the message budget.
        self._sent_log: deque[tuple[float, int]] = deque()
        # Messages of the last full update (what the next streamed full update will cost).
        self._full_messages = 0
        # When the next streamed update is due (perf_counter), None when none is pending; the
        # sweep's update thread sleeps on _wake until then.
        self._due: float | None = None
        self._wake = threading.Condition(self._lock)
        self._analysis_cache: tuple[tuple[Any, ...], Analysis | None, str | None] | None = None
        self._view = ChartView()
        #: Redraw rounds that sent something, and widget messages sent in total.
        self.updates_sent = 0
        self.messages_sent = 0

        self._chart = LossChart(self.start_lr, self.end_lr)
        self._build_controls()
        super().__init__(
            children=[
                widgets.HBox([self._run_button, self._stop_button, self._status_html]),
                widgets.HBox([self._progress, self._progress_html]),
                self._chart.figure,
                widgets.HBox([self._beta_slider, self._smoothing_dropdown]),
                widgets.HBox([self._skip_start_slider, self._skip_end_slider]),
                widgets.HBox([self._div_checkbox, self._div_slider]),
                widgets.HBox([self._rules_select, self._selected_dropdown]),
                self._readout_html,
            ],
            layout=widgets.Layout(width="100%"),
        )
        self.add_class("lrw-root")
        self.beta = float(beta)
        self.smoothing = smoothing
        self.skip_start = int(resolved_skip_start)
        self.skip_end = int(skip_end)
        self.div_threshold = None if div_threshold is None else float(div_threshold)
        self.shown_rules = list(self.rule_names)
        self.selected = selected
        self._sync_controls()
        self._connect()
        self._ready = True
        self._refresh()

    # ----------------------------------------------------------------------------------------
    # construction
    @classmethod
    def from_sweep(
        cls, sweep: Sweep, methods: Sequence[Method] = DEFAULT_METHODS, **settings: Any
    ) -> LRFinderWidget:
        """Open a finished (or saved) sweep: every control works, no Learner is needed.

        Args:
            sweep: A :class:`~lrwidget.Sweep`, e.g. ``Sweep.from_arrays(lrs, losses)``.
            methods: As in the constructor.
            settings: ``beta``, ``smoothing``, ``skip_start``, ``skip_end``,
                ``div_threshold``, ``selected``.

        Example:
            >>> LRFinderWidget.from_sweep(Sweep.from_arrays(lrs, losses))  # doctest: +SKIP
        """
        if not isinstance(sweep, Sweep):
            raise TypeError(
                f"from_sweep expects a lrwidget.Sweep; got {type(sweep).__name__}. Build one "
                "with Sweep.from_arrays(lrs, losses) or read a saved one."
            )
        return cls(
            None,
            start_lr=sweep.start_lr,
            end_lr=sweep.end_lr,
            num_it=sweep.num_it,
            stop_div=sweep.stop_div,
            methods=methods,
            _sweep=sweep,
            **settings,
        )

    def _build_controls(self) -> None:
        self._run_button = widgets.Button(description="Run", icon="play", button_style="primary")
        self._stop_button = widgets.Button(description="Stop", icon="stop")
        self._status_html = widgets.HTML()
        self._progress = widgets.IntProgress(min=0, max=self.num_it, value=0)
        self._progress_html = widgets.HTML()
        self._beta_slider = widgets.FloatSlider(
            min=0.0,
            max=_BETA_MAX,
            step=0.001,
            readout_format=".3f",
            description="EMA beta",
        )
        self._smoothing_dropdown = widgets.Dropdown(
            options=list(SMOOTHING_OPTIONS), description="smoothing"
        )
        self._skip_start_slider = widgets.IntSlider(
            min=0, max=self.num_it, description="skip start"
        )
        self._skip_end_slider = widgets.IntSlider(min=0, max=self.num_it, description="skip end")
        self._div_checkbox = widgets.Checkbox(description="cut at divergence", indent=False)
        self._div_slider = widgets.FloatSlider(
            min=_DIV_MIN,
            max=_DIV_MAX,
            step=0.1,
            value=_DIV_DEFAULT,
            readout_format=".1f",
            description="× min loss",
        )
        self._rules_select = widgets.SelectMultiple(
            options=list(self.rule_names),
            rows=min(len(self.rule_names), 6),
            description="show rules",
        )
        self._selected_dropdown = widgets.Dropdown(
            options=[*self.rule_names, CUSTOM], description="use LR of"
        )
        self._readout_html = widgets.HTML()
        if self._learn is None:
            self._run_button.disabled = True
            self._run_button.tooltip = "No Learner: this widget shows a recorded sweep."
        for control, name in [
            (self._run_button, "lrw-run"),
            (self._stop_button, "lrw-stop"),
            (self._status_html, "lrw-status"),
            (self._progress, "lrw-progress"),
            (self._progress_html, "lrw-progress-text"),
            (self._beta_slider, "lrw-beta"),
            (self._smoothing_dropdown, "lrw-smoothing"),
            (self._skip_start_slider, "lrw-skip-start"),
            (self._skip_end_slider, "lrw-skip-end"),
            (self._div_checkbox, "lrw-div-enabled"),
            (self._div_slider, "lrw-div-threshold"),
            (self._rules_select, "lrw-rules"),
            (self._selected_dropdown, "lrw-selected"),
            (self._readout_html, "lrw-readout"),
        ]:
            control.add_class(name)

    def _connect(self) -> None:
        self._run_button.on_click(self._on_run_clicked)
        self._stop_button.on_click(self._on_stop_clicked)
        pairs: list[tuple[widgets.Widget, str]] = [
            (self._beta_slider, "value"),
            (self._smoothing_dropdown, "value"),
            (self._skip_start_slider, "value"),
            (self._skip_end_slider, "value"),
            (self._div_checkbox, "value"),
            (self._div_slider, "value"),
            (self._rules_select, "value"),
            (self._selected_dropdown, "value"),
        ]
        for control, name in pairs:
            control.observe(self._on_control, names=name)
        self._chart.handles.on_drag_end(self._on_handle_dragged)
        self._chart.divergence_handle.on_drag_end(self._on_divergence_dragged)
        self._chart.pick.observe(self._on_pick, names="x")

    # ----------------------------------------------------------------------------------------
    # validation (delegated to analyze / run_sweep so the rules live in one place)
    def _check_settings(
        self, settings: dict[str, Any], methods: Sequence[Method] | None = None
    ) -> None:
        analyze(
            self._probe,
            beta=settings["beta"],
            skip_start=settings["skip_start"],
            skip_end=settings["skip_end"],
            div_threshold=settings["div_threshold"],
            smoothing=settings["smoothing"],
            methods=tuple(methods) if methods is not None else ("minimum",),
        )

    def _check_selected(self, value: str) -> None:
        accepted = [*self.rule_names, CUSTOM]
        if value not in accepted:
            raise LRWidgetValueError(
                f"selected must be one of {', '.join(map(repr, accepted))}; got {value!r}. "
                "Pick a rule this widget computes (see `methods`) or 'custom'."
            )

    def _settings(self) -> dict[str, Any]:
        return {
            "beta": self.beta,
            "smoothing": self.smoothing,
            "skip_start": self.skip_start,
            "skip_end": self.skip_end,
            "div_threshold": self.div_threshold,
        }

    @validate("beta", "smoothing", "skip_start", "skip_end", "div_threshold")
    def _validate_setting(self, proposal: traitlets.Bunch) -> Any:
        if not getattr(self, "_ready", False) and not hasattr(self, "_probe"):
            return proposal["value"]
        settings = self._settings()
        settings[proposal["trait"].name] = proposal["value"]
        self._check_settings(settings)
        return proposal["value"]

    @validate("selected")
    def _validate_selected(self, proposal: traitlets.Bunch) -> str:
        if hasattr(self, "rule_names"):
            self._check_selected(proposal["value"])
        return str(proposal["value"])

    @validate("shown_rules")
    def _validate_shown(self, proposal: traitlets.Bunch) -> list[str]:
        names = getattr(self, "rule_names", ())
        unknown = [name for name in proposal["value"] if name not in names]
        if unknown:
            raise LRWidgetValueError(
                f"shown_rules may only name the rules this widget computes "
                f"({', '.join(names)}); got unknown {unknown!r}. Remove them."
            )
        return list(proposal["value"])

    @validate("custom_lr")
    def _validate_custom(self, proposal: traitlets.Bunch) -> float | None:
        value = proposal["value"]
        if value is not None and (not math.isfinite(value) or value <= 0):
            raise LRWidgetValueError(
                f"custom_lr must be a positive finite learning rate or None; got {value!r}. "
                "Click the chart or pass e.g. custom_lr=1e-3."
            )
        return value

    # ----------------------------------------------------------------------------------------
    # controls <-> traits
    def _sync_controls(self) -> None:
        """Move every control to its trait's value (traits are the source of truth)."""
        self._syncing = True
        try:
            self._beta_slider.value = min(self.beta, _BETA_MAX)
            self._smoothing_dropdown.value = self.smoothing
            self._skip_start_slider.value = min(self.skip_start, self.num_it)
            self._skip_end_slider.value = min(self.skip_end, self.num_it)
            self._div_checkbox.value = self.div_threshold is not None
            if self.div_threshold is not None:
                self._div_slider.value = min(max(self.div_threshold, _DIV_MIN), _DIV_MAX)
            self._div_slider.disabled = self.div_threshold is None
            self._rules_select.value = tuple(self.shown_rules)
            self._selected_dropdown.value = self.selected
        finally:
            self._syncing = False

    def _on_control(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        owner = change["owner"]
        updates: dict[str, Any] = {}
        if owner is self._beta_slider:
            updates["beta"] = float(change["new"])
        elif owner is self._smoothing_dropdown:
            updates["smoothing"] = change["new"]
        elif owner is self._skip_start_slider:
            updates["skip_start"] = int(change["new"])
        elif owner is self._skip_end_slider:
            updates["skip_end"] = int(change["new"])
        elif owner in (self._div_checkbox, self._div_slider):
            enabled = self._div_checkbox.value
            updates["div_threshold"] = float(self._div_slider.value) if enabled else None
        elif owner is self._rules_select:
            updates["shown_rules"] = list(change["new"])
        elif owner is self._selected_dropdown:
            updates["selected"] = change["new"]
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

    @observe(
        "beta",
        "smoothing",
        "skip_start",
        "skip_end",
        "div_threshold",
        "selected",
        "shown_rules",
        "custom_lr",
    )
    def _on_setting(self, change: dict[str, Any]) -> None:
        if not self._ready:
            return
        self._sync_controls()
        self._refresh()

    def _on_handle_dragged(self, _mark: Any, event: dict[str, Any]) -> None:
        """A cut-off handle was dropped: snap it to the nearest point boundary."""
        lr = float(event.get("point", {}).get("x", math.nan))
        index = int(event.get("index", 0))
        with self._lock:
            sweep = self._sweep
        count = len(sweep) if sweep is not None and len(sweep) else self.num_it
        lrs = sweep.lrs if sweep is not None else np.zeros(0)
        boundary = nearest_boundary(lr, boundary_lrs(lrs, count, self.start_lr, self.end_lr))
        if index == 0:
            updates = {"skip_start": min(boundary, self.num_it)}
        else:
            updates = {"skip_end": min(max(count - boundary, 0), self.num_it)}
        self._apply_updates(updates)
        self._refresh()

    def _on_divergence_dragged(self, _mark: Any, event: dict[str, Any]) -> None:
        analysis = self.analysis
        level = float(event.get("point", {}).get("y", math.nan))
        reference = divergence_reference(analysis) if analysis is not None else None
        if reference is None or reference <= 0 or not math.isfinite(level):
            self._refresh()
            return
        threshold = round(min(max(level / reference, _DIV_MIN), _DIV_MAX), 1)
        self._apply_updates({"div_threshold": threshold})
        self._refresh()

    def _on_pick(self, change: dict[str, Any]) -> None:
        """A click on the chart's background added a point: that is the custom LR."""
        if self._chart.drawing or change["new"] is None or len(change["new"]) == 0:
            return
        lr = float(np.asarray(change["new"])[-1])
        if not math.isfinite(lr) or lr <= 0:
            return
        lr = min(max(lr, self.start_lr), self.end_lr)
        with self.hold_trait_notifications():
            self.custom_lr = lr
            self.selected = CUSTOM
        self._refresh()

    def _on_run_clicked(self, _button: Any) -> None:
        try:
            self.start()
        except RuntimeError as error:
            self._run_refused = str(error)
            self._refresh()

    def _on_stop_clicked(self, _button: Any) -> None:
        self.stop()

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
        with self._lock:
            return not self._ended.is_set()

    @property
    def analysis(self) -> Analysis | None:
        """``analyze`` of the recorded points with the current settings (None with no
        points, or when the settings do not fit the points recorded so far)."""
        analysis, _message = self._analyze()
        return analysis

    @property
    def suggestions(self) -> Any:
        """fastai-style ``SuggestedLRs`` for the current settings (equal to the engine's)."""
        analysis = self.analysis
        return None if analysis is None else analysis.suggestions

    @property
    def lr(self) -> float | None:
        """The selected rule's LR, or the custom pick when ``selected == "custom"``."""
        if self.selected == CUSTOM:
            return self.custom_lr
        analysis = self.analysis
        if analysis is None:
            return None
        result = analysis.rules.get(self.selected)
        return None if result is None or result.lr is None else float(result.lr)

    def apply(self) -> float:
        """Set ``learn.lr`` to :attr:`lr`, so ``learn.fit_one_cycle(n)`` uses it.

        Returns:
            The learning rate set.

        Raises:
            RuntimeError: with no Learner (a widget from :meth:`from_sweep`).
            LRWidgetValueError: when the selected rule gave no LR.
        """
        if self._learn is None:
            raise RuntimeError(
                "apply() needs a Learner, and this widget was opened from a recorded sweep. "
                "Set it yourself: learn.lr = widget.lr."
            )
        lr = self.lr
        if lr is None:
            raise LRWidgetValueError(self._no_lr_message())
        self._learn.lr = lr
        return lr

    def _no_lr_message(self) -> str:
        if self.selected == CUSTOM:
            return (
                "selected='custom' but no LR was picked; click the chart to pick one, set "
                "widget.custom_lr, or select a rule."
            )
        analysis, message = self._analyze()
        reason = message or "there are no recorded points yet"
        if analysis is not None and self.selected in analysis.rules:
            reason = analysis.rules[self.selected].reason or reason
        return (
            f"selected rule {self.selected!r} gave no learning rate ({reason}). Select "
            "another rule, change the cut-offs, or click the chart to pick one."
        )

    def start(self) -> None:
        """Start a sweep in a background thread and return at once.

        Raises:
            RuntimeError: while a sweep is running, or with no Learner.
        """
        if self._learn is None:
            raise RuntimeError(
                "Run is unavailable: this widget shows a recorded sweep and has no Learner. "
                "Create LRFinderWidget(learn) to run a new sweep."
            )
        with self._lock:
            if not self._ended.is_set():
                done = len(self._sweep) if self._sweep is not None else 0
                raise RuntimeError(
                    f"Run refused: a sweep is already running ({done} / {self.num_it}). "
                    "Press Stop (widget.stop()) or wait for it (widget.wait()) first."
                )
            self._cancel_timer()
            self._stop_event = threading.Event()
            self._error = None
            self._background_error = None
            self._notice = ""
            self._sweep = Sweep(self.num_it, self.start_lr, self.end_lr, stop_div=self.stop_div)
            self._started_at = time.perf_counter()
            self._ended_at = None
            self._ended = threading.Event()
            self._drawn = threading.Event()
            self._worker = threading.Thread(
                target=self._work,
                args=(self._stop_event, self._sweep, self._ended, self._drawn),
                name="lrwidget-sweep",
                daemon=True,
            )
            worker = self._worker
            updater = self._update_thread = threading.Thread(
                target=self._updater, args=(self._ended,), name="lrwidget-update", daemon=True
            )
        self._refresh()
        updater.start()
        worker.start()

    def stop(self) -> None:
        """Ask the running sweep to stop; it ends within one batch, keeping its points.

        Returns at once; call :meth:`wait` to wait for the end.  Does nothing when idle.
        """
        with self._lock:
            if self._stop_event is not None:
                self._stop_event.set()

    def wait(self, timeout: float | None = None, *, chart: bool = False) -> Sweep | None:
        """Wait for the running sweep to end and return it.

        By default it returns as soon as the sweep's result is final.  The chart's last
        update follows at once, or within about a second when the last second already
        carried its share of messages (streaming sends at most MAX_MESSAGES_PER_SECOND);
        ``chart=True`` also waits for that update to have been sent.

        Raises:
            TimeoutError: if it is still running (or, with ``chart=True``, its final update
                is not sent) after ``timeout`` seconds.
            BaseException: the exception that ended the sweep, re-raised.
        """
        with self._lock:
            ended, drawn = self._ended, self._drawn
        began = time.perf_counter()
        if not ended.wait(timeout):
            raise TimeoutError(
                f"the sweep is still running after {timeout} s; call wait() again or stop() it."
            )
        left = None if timeout is None else max(0.0, timeout - (time.perf_counter() - began))
        if chart and not drawn.wait(left):
            raise TimeoutError(
                f"the chart's final update was not sent within {timeout} s; call wait() again."
            )
        with self._lock:
            error = self._error or self._background_error
        if error is not None:
            raise error
        return self.sweep

    def run(self) -> Any:
        """Run a sweep and block until it ends; the chart still streams.

        Returns:
            The suggestions (``SuggestedLRs``) for the current settings.
        """
        self.start()
        try:
            self.wait()
        except KeyboardInterrupt:
            self.stop()
            with self._lock:
                ended = self._ended
            ended.wait()
            raise
        return self.suggestions

    # ----------------------------------------------------------------------------------------
    # the worker thread (no print, no `with output:` here)
    def _work(
        self,
        stop_event: threading.Event,
        sweep: Sweep,
        ended: threading.Event,
        drawn: threading.Event,
    ) -> None:
        result: Sweep | None = None
        error: BaseException | None = None
        try:
            run_sweep = self._engine.run_sweep
            result = run_sweep(
                self._learn,
                self.start_lr,
                self.end_lr,
                self.num_it,
                self.stop_div,
                on_batch=self._on_batch,
                stop=stop_event,
                sweep=sweep,
            )
        except BaseException as caught:
            error = caught
        finally:
            with self._lock:
                if result is not None:
                    self._sweep = result
                if error is not None:
                    self._error = error
                    if sweep is not None and sweep.status == "running":
                        sweep.status = "failed"
                        sweep.error = f"{type(error).__name__}: {error}"
                self._ended_at = time.perf_counter()
                self._run_refused = ""
                self._cancel_timer()
                ended.set()
                self._wake.notify_all()  # the update thread ends
            try:
                self._final_update()
            except Exception as caught:
                with self._lock:
                    self._background_error = self._background_error or caught
            finally:
                drawn.set()

    def _on_batch(self, sweep: Sweep) -> None:
        with self._lock:
            self._sweep = sweep
        self._stream_update()

    def _stream_update(self) -> None:
        """After each batch (worker thread): make sure a redraw is scheduled.

        The redraw itself runs on the sweep's update thread, never on the worker, so drawing
        never delays the next batch.  An update already pending will pick up this batch's point.
        """
        with self._lock:
            if self._due is not None:
                return
            self._arm_timer(self._next_stream_time())

    def _arm_timer(self, moment: float) -> None:
        """Schedule the streamed redraw at ``moment`` (perf_counter; call with ``_lock`` held)."""
        self._due = moment
        self._wake.notify_all()

    def _updater(self, ended: threading.Event) -> None:
        """The update thread of one sweep: sends each streamed update when it is due.

        One long-lived thread rather than a ``threading.Timer`` per update: overlapping
        short-lived threads each got a glibc malloc arena of their own, measured at
        1.3-2.2 MiB of extra peak memory over a 10,000-batch sweep (B6).
        """
        while True:
            with self._lock:
                while not ended.is_set():
                    due, now = self._due, time.perf_counter()
                    if due is not None and due <= now:
                        break
                    self._wake.wait(None if due is None else due - now)
                else:
                    return  # the sweep ended: the worker sends the final update
            self._timer_fired()

    def _full_due(self, moment: float) -> bool:
        return moment >= self._last_full_update + FULL_STREAM_INTERVAL

    def _next_stream_time(self) -> float:
        """When the next streamed update may go out at the earliest (call with ``_lock`` held).

        At least UPDATE_INTERVAL after the previous one, and drawing may take at most
        1/DRAW_SHARE of the CPU: with many thousand points a redraw costs 10-20 ms of the
        GIL, which would otherwise slow the sweep itself down (never sparser than
        MAX_STREAM_INTERVAL on that account).  Then, not before its messages fit in the
        budget (:meth:`_room_at`); a full update's cost is estimated by the previous one's,
        and :meth:`_timer_fired` checks the real cost before sending.
        """
        spacing = min(MAX_STREAM_INTERVAL, DRAW_SHARE * self._last_draw_seconds)
        earliest = self._last_update + max(UPDATE_INTERVAL, spacing)
        cost = self._full_messages if self._full_due(earliest) else LIGHT_MESSAGES
        return self._room_at(cost, earliest)

    def _room_at(self, cost: int, earliest: float) -> float:
        """The first moment from ``earliest`` at which ``cost`` more messages keep every
        one-second window within MAX_MESSAGES_PER_SECOND (call with ``_lock`` held).

        The log holds each update at the time its last message went out; an update counts in
        the window (t - 1, t].  An update bigger than the whole budget waits for an empty one.
        """
        log = self._sent_log
        while log and log[0][0] <= time.perf_counter() - 1.0:
            log.popleft()
        window = [(sent, count) for sent, count in log if sent > earliest - 1.0]
        total = sum(count for _, count in window)
        moment = earliest
        for sent, count in window:
            if total + cost <= MAX_MESSAGES_PER_SECOND:
                break
            total -= count
            # 1 ms past the second, so that no clock rounding can count it twice.
            moment = sent + 1.001
        return moment

    def _timer_fired(self) -> None:
        try:
            with self._draw_lock:
                with self._lock:
                    due = self._due
                    if due is None or due > time.perf_counter():
                        return  # cancelled, or moved later meanwhile
                    self._due = None
                    too_soon = self._next_stream_time() > time.perf_counter()
                if too_soon:
                    # A control's redraw went out meanwhile: keep the spacing and the budget.
                    self._stream_update()
                    return
                self._refresh(kind="stream")
        except Exception as caught:
            with self._lock:
                self._background_error = self._background_error or caught

    def _cancel_timer(self) -> None:
        with self._lock:
            self._due = None
            self._wake.notify_all()

    def _final_update(self) -> None:
        """The last update of a sweep: always sent, in full, as soon as the budget allows.

        That is at once unless the last second was busy.  Then the last points and the bar
        go first, as soon as a light update fits, and the rest (markers, readout, status)
        when a full one does, up to about a second after run() and wait() returned (they
        return when the sweep ends).  Waits happen outside the draw lock, so a control moved
        meanwhile is answered at once.
        """
        with self._lock:
            now = time.perf_counter()
            full_at = self._room_at(max(self._full_messages, LIGHT_MESSAGES), now)
            light_at = self._room_at(LIGHT_MESSAGES, now)
        if full_at > now and light_at < full_at:
            time.sleep(max(0.0, light_at - now))
            self._refresh(kind="points")
            with self._lock:
                now = time.perf_counter()
                full_at = self._room_at(max(self._full_messages, LIGHT_MESSAGES), now)
        time.sleep(max(0.0, full_at - now))
        self._refresh(kind="final")

    # ----------------------------------------------------------------------------------------
    # analysis and drawing
    def _analyze(self) -> tuple[Analysis | None, str | None]:
        with self._lock:
            sweep = self._sweep
        if sweep is None or len(sweep) == 0:
            return None, None
        settings = self._settings()
        key = (
            id(sweep),
            len(sweep),
            sweep.status,
            tuple(sorted(settings.items(), key=lambda item: item[0])),
        )
        cache = self._analysis_cache
        if cache is not None and cache[0] == key:
            return cache[1], cache[2]
        # The worker keeps appending while we analyse: work on a consistent copy.
        frozen = sweep if sweep.finished else sweep.frozen()
        analysis: Analysis | None = None
        message: str | None = None
        try:
            analysis = analyze(frozen, methods=self.methods, **settings)
        except LRWidgetValueError as error:
            # Settings valid for num_it points may not fit the points recorded so far.
            message = str(error)
        key = (id(sweep), len(frozen), *key[2:])
        self._analysis_cache = (key, analysis, message)
        return analysis, message

    def _refresh(self, kind: RefreshKind = "control") -> None:
        """Re-run analyze on the recorded points and update chart, readout and progress.

        ``kind`` says why, and so what is drawn and when it may go out:

        * ``"control"`` (a control, a setting or a start): everything, sent at once;
        * ``"stream"`` (the sweep moved on; the update thread): a light update (points,
          smoothed line, progress bar) unless a full one is due (one per
          FULL_STREAM_INTERVAL); sent only if its messages fit in MAX_MESSAGES_PER_SECOND,
          else the timer is set for when they will, with the points recorded by then;
        * ``"points"`` / ``"final"`` (the sweep ended): a light / full update, sent when it
          fits in the budget (:meth:`_final_update` waits for that before calling).
        """
        if not getattr(self, "_ready", False):
            return
        with self._draw_lock:
            # CPU time of this thread, not wall time: while the sweep holds the GIL a redraw
            # can take ten times its own cost in wall time, and spacing updates by that
            # would starve the chart.
            began = time.thread_time()
            with self._lock:
                sweep = self._sweep
            now = time.perf_counter()
            light = kind == "points" or (kind == "stream" and not self._full_due(now))
            frame = self._light_frame(sweep) if light else self._full_frame(sweep)
            if kind != "control":
                with self._lock:
                    moment = self._room_at(len(frame), now)
                    if not light:
                        self._full_messages = len(frame)
                    if moment > now and kind == "stream":
                        # Over budget: try again when it has room, with the points then.
                        self._last_draw_seconds = time.thread_time() - began
                        if self._due is None:
                            self._arm_timer(moment)
                        return
                if moment > now:
                    # The sweep ended and this costs more than _final_update reckoned (rare).
                    time.sleep(moment - now)
                    frame = self._light_frame(sweep) if light else self._full_frame(sweep)
            sent = self._chart.send(frame)
            with self._lock:
                self._last_update = time.perf_counter()
                self._last_draw_seconds = time.thread_time() - began
                if sent:
                    self.updates_sent += 1
                    self.messages_sent += sent
                    self._sent_log.append((self._last_update, sent))
                if not light:
                    self._last_full_update = now

    def _light_frame(self, sweep: Sweep | None) -> list[Change]:
        """A light streamed update: only the raw points, the smoothed line and the bar move.

        It needs the smoothed curve, not the rules, so it skips ``analyze`` (valley alone
        costs milliseconds at thousands of points) and the rest of the view.
        """
        if sweep is None or len(sweep) == 0:
            return []
        frozen = sweep.frozen()
        smoothed = smoothed_losses(frozen, self.beta, self.smoothing)
        view = stream_view(self._view, frozen.lrs, frozen.losses, smoothed)
        frame = self._chart.changes(view, only=STREAM_MARKS)
        return frame + self._progress_bar_change(len(frozen))

    def _full_frame(self, sweep: Sweep | None) -> list[Change]:
        """Re-run analyze; every mark, the readout, the progress and the status."""
        analysis, message = self._analyze()
        if analysis is not None:
            count = analysis.sweep_length
            lrs, losses = (sweep.lrs[:count], sweep.losses[:count]) if sweep else ((), ())
        elif sweep is not None:
            lrs, losses = sweep.snapshot()
        else:
            lrs, losses = np.zeros(0), np.zeros(0)
        selected_color = (
            CUSTOM_COLOR if self.selected == CUSTOM else rule_color(self.selected, self.rule_names)
        )
        view = build_view(
            lrs=np.asarray(lrs, dtype=np.float64),
            losses=np.asarray(losses, dtype=np.float64),
            analysis=analysis,
            shown=self.shown_rules,
            rule_order=self.rule_names,
            selected_lr=self.lr,
            selected_color=selected_color,
            custom_lr=self.custom_lr,
            num_it=self.num_it,
            start_lr=self.start_lr,
            end_lr=self.end_lr,
            skip_start=self.skip_start,
            skip_end=self.skip_end,
            div_threshold=self.div_threshold,
        )
        self._view = view
        frame = self._chart.changes(view)
        frame += _value_change(self._readout_html, self._readout(analysis, message, view))
        frame += self._progress_changes(sweep)
        return frame

    def _progress_bar_change(self, count: int) -> list[Change]:
        return _value_change(self._progress, min(count, self.num_it))

    def _progress_changes(self, sweep: Sweep | None) -> list[Change]:
        """The progress bar, its text, the status line and the Stop button."""
        count = len(sweep) if sweep is not None else 0
        status = self.status
        bar_style = {
            "done": "success",
            "diverged": "warning",
            "stopped": "info",
            "failed": "danger",
        }.get(status, "")
        frame: list[Change] = []
        bar = {"value": min(count, self.num_it), "bar_style": bar_style}
        bar = {name: value for name, value in bar.items() if getattr(self._progress, name) != value}
        if bar:
            frame.append((self._progress, bar))
        parts = [f"{count} / {self.num_it}"]
        if count and sweep is not None:
            parts.append(f"lr {format_lr(float(sweep.lrs[count - 1]))}")
        with self._lock:
            started, ended = self._started_at, self._ended_at
        if started is not None:
            now = ended if ended is not None else time.perf_counter()
            elapsed = now - started
            parts.append(f"elapsed {_duration(elapsed)}")
            if status == "running":
                remaining = elapsed / count * (self.num_it - count) if count else None
                parts.append(f"remaining ~{_duration(remaining)}")
        frame += _value_change(self._progress_html, " · ".join(parts))
        frame += _value_change(self._status_html, self._status_text(sweep))
        stopped = status != "running"
        if self._stop_button.disabled != stopped:
            frame.append((self._stop_button, {"disabled": stopped}))
        return frame

    def _status_text(self, sweep: Sweep | None) -> str:
        status = self.status
        words = {
            "ready": "ready — press Run" if self._learn is not None else "ready",
            "running": "running",
            "done": "done",
            "diverged": "diverged (loss exceeded 4× its minimum)",
            "stopped": "stopped",
            "failed": "failed",
        }
        text = f"<b>{html.escape(words.get(status, status))}</b>"
        if status == "failed" and sweep is not None and sweep.error:
            text += f": {html.escape(sweep.error)}"
        with self._lock:
            background = self._background_error
        if background is not None:
            text += f" — error while drawing: {html.escape(repr(background))}"
        if self._notice:
            text += f" — {html.escape(self._notice)}"
        if self._run_refused and status == "running":
            text += f" — {html.escape(self._run_refused)}"
        return f'<span data-status="{status}">{text}</span>'

    def _readout(self, analysis: Analysis | None, message: str | None, view: ChartView) -> str:
        sweep = self.sweep
        points = len(sweep) if sweep is not None else 0
        positions = marker_positions(view)
        rows = [
            "<tr><th>rule</th><th>LR</th><th>smoothed loss there</th><th>what it does</th></tr>"
        ]
        for name in self.rule_names:
            if name not in self.shown_rules:
                continue
            color = rule_color(name, self.rule_names)
            result = analysis.rules.get(name) if analysis is not None else None
            lr = None if result is None or result.lr is None else float(result.lr)
            loss_text = ""
            if result is not None and lr is not None:
                point = getattr(result, "returned_point", None) if name == "minimum" else None
                point = point if point is not None else result.point
                if point is not None and math.isfinite(point[1]):
                    loss_text = f"{point[1]:.4g}"
            if result is None:
                detail = message or ("no points yet — press Run" if points == 0 else "")
            elif lr is None:
                detail = f"no suggestion: {result.reason}"
            else:
                detail = result.explanation
            selected = name == self.selected
            style = ' style="font-weight:bold;background:rgba(0,0,0,0.06)"' if selected else ""
            x_value = positions.get(name)
            rows.append(
                f'<tr data-rule="{html.escape(name)}" data-lr="{"" if lr is None else repr(lr)}"'
                f' data-x="{"" if x_value is None else repr(x_value)}"'
                f' data-selected="{str(selected).lower()}"{style}>'
                f'<td><span style="color:{color}">●</span> {html.escape(name)}</td>'
                f"<td>{'—' if lr is None else format_lr(lr)}</td>"
                f"<td>{loss_text}</td><td>{html.escape(detail)}</td></tr>"
            )
        status = self.status
        table = (
            f'<table class="lrw-table" data-points="{points}" data-status="{status}" '
            'style="border-collapse:collapse">' + "".join(rows) + "</table>"
        )
        if self.custom_lr is not None:
            mark = " (selected)" if self.selected == CUSTOM else ""
            table += (
                f'<div class="lrw-custom" data-lr="{self.custom_lr!r}">custom pick: '
                f"{format_lr(self.custom_lr)}{mark}</div>"
            )
        return table

    def __repr__(self) -> str:
        return (
            f"LRFinderWidget(status={self.status!r}, lr={self.lr!r}, selected={self.selected!r},"
            f" points={len(self.sweep) if self.sweep is not None else 0})"
        )


def _value_change(control: widgets.Widget, value: Any) -> list[Change]:
    """``control.value = value`` as a pending change, or nothing when it already holds it."""
    return [] if control.value == value else [(control, {"value": value})]


def _resolve_engine(engine: Any, learn: Any) -> Any:
    """The sweep engine: fastai's adapter, imported only when a Learner is involved."""
    if engine is not None:
        if not callable(getattr(engine, "run_sweep", None)):
            raise LRWidgetValueError(
                f"engine must provide run_sweep(learn, start_lr, end_lr, num_it, stop_div, *, "
                f"on_batch, stop, sweep) -> Sweep; got {engine!r}. Leave engine=None for fastai."
            )
        return engine
    if learn is None:
        return None
    from lrwidget import _fastai

    return _fastai


def _check_run_arguments(
    engine: Any, learn: Any, start_lr: float, end_lr: float, num_it: int, stop_div: bool
) -> None:
    """Validate the sweep arguments with the engine's own checks (one set of rules).

    With a Learner, fastai is installed and the adapter's checks run; without one (a
    recorded sweep) the adapter is not imported, so fastai is never needed to view a sweep.
    """
    if learn is not None:
        check = getattr(engine, "check_arguments", None)
        if check is not None:
            check(learn, start_lr, end_lr, num_it, stop_div)
        return
    if not (math.isfinite(start_lr) and math.isfinite(end_lr) and 0 < start_lr < end_lr):
        raise LRWidgetValueError(
            f"the sweep's start_lr and end_lr must be finite with 0 < start_lr < end_lr (they "
            f"fix the chart's log axis); got start_lr={start_lr!r}, end_lr={end_lr!r}. Build "
            f"the sweep with Sweep.from_arrays(lrs, losses, start_lr=..., end_lr=...)."
        )
