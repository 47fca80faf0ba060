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

    def start(self) -> None:
        """Start a sweep in a background thread and return at once.

        Raises:
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
        holder = holder_of(self._learn)
        if self._runner.running or holder is not None:
            raise SweepRunningError(self._busy_message(holder))
        watch_interrupts()
        # The previous sweep's final update may still wait for room in the budget; it stops
        # the update thread when it is done, so the new sweep's thread starts after it.
        self._runner.drawn.wait()
        sweep = Sweep(self.num_it, self.start_lr, self.end_lr, stop_div=self.stop_div)
        # The update thread first: a short sweep can end (and finish it) before start returns.
        self._stream.start()
        # The widget shows the new sweep only once the runner holds it, so that stop() and
        # wait() called as soon as ``widget.sweep`` changes reach it.
        with self._lock:
            self._runner.start(self._engine, self._learn, sweep, self.stop_div)
            self._sweep = sweep
            self._notice = self._run_refused = ""
        self._refresh()

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
        with self._lock:
            self._sweep = sweep
        self._stream.poke()

    def _on_sweep_end(self) -> None:
        if self._runner.kind == "trials":
            self._trials_ended()
        with self._lock:
            if self._runner.sweep is not None:
                self._sweep = self._runner.sweep
            self._run_refused = ""
        if self._ready:
            self._stream.finish()
