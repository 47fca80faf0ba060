"""The widget's background work: starting, stopping and waiting for sweeps (a mixin).

:class:`SweepControl` is the public sweep API of :class:`lrwidget.LRFinderWidget` —
:meth:`~SweepControl.start`, :meth:`~SweepControl.stop`, :meth:`~SweepControl.wait`,
:meth:`~SweepControl.run`, :meth:`~SweepControl.close` — and the worker's callbacks.  The work
itself runs in :class:`lrwidget._runner.SweepRunner`; what is drawn, in the widget's frames.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from lrwidget import _readout
from lrwidget._controls import close_all
from lrwidget._errors import SweepRunningError
from lrwidget._runner import SweepRunner, holder_of, watch_interrupts
from lrwidget._sweep_list import check_repeats
from lrwidget.sweep import Sweep

if TYPE_CHECKING:
    from lrwidget._chart import LossChart
    from lrwidget._stream import StreamScheduler


class SweepControl:
    """Start, stop and wait for the widget's background sweeps (mixed into the widget)."""

    if TYPE_CHECKING:  # provided by LRFinderWidget
        _learn: Any
        _engine: Any
        _runner: SweepRunner
        _stream: StreamScheduler
        _chart: LossChart
        _lock: threading.RLock
        _sweep: Sweep | None
        _ready: bool
        _notice: str
        _run_refused: str
        _run_queued: bool
        _zoom_timer: threading.Timer | None
        _sweeps: list[Sweep]
        _repeat_of: dict[int, tuple[int, int, int]]
        repeats: int
        shown_sweeps: list[int]
        current_sweep: int
        num_it: int
        start_lr: float
        end_lr: float
        stop_div: bool

        @property
        def sweep(self) -> Sweep | None: ...
        @property
        def suggestions(self) -> Any: ...
        def _refresh(self) -> None: ...
        def _trials_ended(self) -> None: ...
        def _label(self, sweep: Sweep) -> None: ...
        def hold_trait_notifications(self) -> Any: ...

    def _on_run_clicked(self, _button: Any) -> None:
        if self._runner.stopping:
            # Stop was pressed and the sweep is still ending: start as soon as it has.
            self._run_queued = True
            self._runner.after_end(self._start_queued)
            self._refresh()
            return
        try:
            self.start()
        except RuntimeError as error:
            self._run_refused = str(error)
            self._refresh()

    def _start_queued(self) -> None:
        if self._run_queued:
            self._run_queued = False
            self._on_run_clicked(None)

    def start(self, repeats: int | None = None, *, seed: int | None = None) -> None:
        """Start a sweep in a background thread and return at once.

        The new sweep joins :attr:`sweeps` and becomes current; the earlier ones stay drawn.

        Args:
            repeats: How many sweeps to run, one after the other, each from the restored
                Learner with another data order (default: the ``repeats`` trait, 1).  The
                readout then gives each rule's log10 mean and range over them.
            seed: The data order of the first repeat (the next ones take ``seed + 1``, ...);
                None: a random one (recorded in each sweep's ``context["seed"]``).  With one
                repeat and no seed the sweep is the plain one ``learn.lr_find`` makes.

        Raises:
            LRWidgetValueError: for bad ``repeats`` or ``seed``, before anything runs.
            RuntimeError: with no Learner.
            SweepRunningError: while a sweep runs on this Learner, from this widget or
                another one (e.g. an earlier run of the same cell); the message says how to
                stop or wait for it.
        """
        if self._learn is None:
            raise RuntimeError(
                "Run is unavailable: this widget shows a recorded sweep and has no Learner. "
                "Create LRFinderWidget(learn) to run a new sweep."
            )
        seeds = check_repeats(self.repeats if repeats is None else repeats, seed, self._engine)
        holder = holder_of(self._learn)
        if self._runner.running or holder is not None:
            raise SweepRunningError(self._busy_message(holder))
        watch_interrupts()
        # The previous sweep's final update may still wait for room in the budget; it stops
        # the update thread when it is done, so the new sweep's thread starts after it.
        self._runner.drawn.wait()
        first = self._new_sweep(seeds, 0)

        def next_sweep(index: int) -> Sweep:  # the worker's, between two repeats
            sweep = self._new_sweep(seeds, index)
            self._show_new(sweep)
            return sweep

        # The update thread first: a short sweep can end (and finish it) before start returns.
        self._stream.start()
        # The widget shows the new sweep only once the runner holds it, so that stop() and
        # wait() called as soon as ``widget.sweep`` changes reach it.
        with self._lock:
            self._runner.start(
                self._engine, self._learn, first, self.stop_div, seeds=seeds, next_sweep=next_sweep
            )
            self._notice = self._run_refused = ""
            self._sweeps.append(first)
            self._sweep = first
        # Outside the lock: the redraw this makes waits for a streamed frame being built, and
        # that frame reads the widget's state under the lock.
        self._show_new(first, appended=True)

    def _new_sweep(self, seeds: tuple[int | None, ...], index: int) -> Sweep:
        """The empty sweep of repeat ``index`` (of ``len(seeds)``), its place noted."""
        sweep = Sweep(self.num_it, self.start_lr, self.end_lr, stop_div=self.stop_div)
        if len(seeds) > 1:
            group = seeds[0]
            assert group is not None  # several repeats always have seeds
            self._repeat_of[id(sweep)] = (group, index + 1, len(seeds))
        return sweep

    def _busy_message(self, holder: SweepRunner | None) -> str:
        runner = holder or self._runner
        if runner.kind == "trials":
            return (
                "Run refused: trial fits are running on this Learner. Press Stop "
                "(widget.stop()) or wait for them (widget.wait()); then Run again."
            )
        done = len(runner.sweep) if runner.sweep is not None else 0
        return _readout.busy_message(done, self.num_it, runner is self._runner)

    def stop(self) -> None:
        """Ask the running sweep to stop; it ends within one batch, keeping its points.

        With no sweep of its own running, it stops the sweep that holds this widget's
        Learner, if any (e.g. one left running by an earlier run of the same cell).
        Returns at once; call :meth:`wait` to wait for the end.
        """
        runner = self._runner if self._runner.running else self._holder()
        if runner is not None:
            runner.stop()

    def _holder(self) -> SweepRunner | None:
        return None if self._learn is None else holder_of(self._learn)

    def wait(self, timeout: float | None = None, *, chart: bool = False) -> Sweep | None:
        """Wait for the running sweep to end and return it.

        By default it returns as soon as the sweep's result is final; ``chart=True`` also
        waits until the chart's final update was sent (at once, or within about a second
        when the last second already carried its share of messages).  With no sweep of its
        own running, it waits for the sweep that holds this widget's Learner, if any.

        Raises:
            TimeoutError: if it is still running (or, with ``chart=True``, its final update
                is not sent) after ``timeout`` seconds.
            BaseException: the exception that ended the sweep, re-raised.
        """
        runner = self._runner
        other = None if runner.running else self._holder()
        if other is not None and not other.ended.wait(timeout):
            raise TimeoutError(f"the other widget's sweep is still running after {timeout} s.")
        ended, drawn = runner.ended, runner.drawn
        if not ended.wait(timeout):
            raise TimeoutError(
                f"the sweep is still running after {timeout} s; call wait() again or stop() it."
            )
        if chart and not drawn.wait(timeout):
            raise TimeoutError(
                f"the chart's final update was not sent within {timeout} s; call wait() again."
            )
        error = runner.error or runner.draw_error or self._stream.error
        if error is not None:
            raise error
        return self.sweep

    def run(self, repeats: int | None = None, *, seed: int | None = None) -> Any:
        """Run a sweep (or ``repeats`` of them, see :meth:`start`) and block until it ends;
        the chart still streams.

        Returns:
            The suggestions (``SuggestedLRs``) of the current sweep for the current settings.
        """
        self.start(repeats, seed=seed)
        try:
            self.wait()
        except KeyboardInterrupt:
            self.stop()
            self._runner.ended.wait()
            raise
        return self.suggestions

    def close(self) -> None:
        """Close every widget model this widget created (the ipywidgets convention).

        A running sweep is stopped first.  The widget cannot be displayed afterwards.
        """
        if not hasattr(self, "_stream"):  # the constructor refused its arguments
            widgets.Widget.close(self)
            return
        if self._runner.running:
            self._runner.stop()
            self._runner.ended.wait()
        self._stream.cancel()
        if self._zoom_timer is not None:
            self._zoom_timer.cancel()
        close_all(self)
        close_all(self._chart.zoom)

    # ----------------------------------------------------------------------------------------
    # the sweep (worker thread: no print, no `with output:` here)
    def _on_batch(self, sweep: Sweep) -> None:
        if sweep.label is None:  # its context is recorded by now: name it
            self._name(sweep)
        self._stream.poke()

    def _show_new(self, sweep: Sweep, *, appended: bool = False) -> None:
        """A new sweep starts: it joins ``sweeps`` (unless ``appended`` already), shown and
        current."""
        with self._lock:
            if not appended:
                self._sweeps.append(sweep)
            index = next(i for i, other in enumerate(self._sweeps) if other is sweep)
            shown = sorted({*self.shown_sweeps, index})
        with self.hold_trait_notifications():
            self.shown_sweeps = shown
            self.current_sweep = index

    def _name(self, sweep: Sweep) -> None:
        """Record a repeat's place in its context, then give the sweep its default label."""
        repeat = self._repeat_of.pop(id(sweep), None)
        if repeat is not None:
            sweep.context["repeat_group"] = repeat[0]
            sweep.context["repeat"] = [repeat[1], repeat[2]]
        self._label(sweep)

    def _on_sweep_end(self) -> None:
        if self._runner.kind == "trials":
            self._trials_ended()
        with self._lock:
            sweep = self._runner.sweep
            if self._runner.kind == "sweep" and sweep is not None and sweep.label is None:
                self._name(sweep)
            self._run_refused = ""
        if self._ready:
            self._stream.finish()
