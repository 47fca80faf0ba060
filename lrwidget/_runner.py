"""Background work: the sweep's worker thread, its stop, its end, and who holds a Learner.

:class:`SweepRunner` runs one engine call (``run_sweep``) at a time in a daemon thread so the
notebook cell returns at once and every control stays live.  It hands the result or the
exception back, records the timings, and tells the widget when the sweep has ended
(``ended``) and when the chart has caught up (``drawn``).

A Learner is held by at most one runner at a time, whichever widget started it:
:func:`holder_of` finds it, so a widget created by re-running a cell can stop or wait for the
sweep that an earlier widget left running on the same Learner.

The kernel's interrupt button stops running sweeps exactly as Stop does (:func:`watch_interrupts`),
whether the kernel is idle or busy in another cell; with no sweep running, interrupts behave
as they did before.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from lrwidget._errors import LRWidgetValueError
from lrwidget._worker import describe
from lrwidget.sweep import Sweep

_HOLDERS_LOCK = threading.Lock()
_HOLDERS: dict[int, SweepRunner] = {}  # id(learn) -> the runner sweeping it


def holder_of(learn: Any) -> SweepRunner | None:
    """The runner whose sweep currently holds ``learn``, if any."""
    with _HOLDERS_LOCK:
        return _HOLDERS.get(id(learn))


def running_sweeps() -> list[SweepRunner]:
    """Every runner whose sweep is running in this process."""
    with _HOLDERS_LOCK:
        return list(_HOLDERS.values())


class SweepRunner:
    """One widget's background work — its sweeps and its trial fits — one job at a time.

    Args:
        on_batch: Called on the worker thread after each recorded batch with the sweep.
        on_end: Called on the worker thread once the sweep's result is final (the widget
            sends its final update there); its exception is kept in ``draw_error``.
    """

    def __init__(self, on_batch: Callable[[Sweep], None], on_end: Callable[[], None]) -> None:
        self._on_batch, self._on_end = on_batch, on_end
        self._lock = threading.Lock()
        self.ended = threading.Event()
        self.ended.set()
        self.drawn = threading.Event()
        self.drawn.set()
        self._stop = threading.Event()
        self._learn: Any = None
        #: What the last job was ("sweep" or "trials"), and what it returned.
        self.kind = "sweep"
        self.result: Any = None
        self.sweep: Sweep | None = None
        self.error: BaseException | None = None
        self.draw_error: BaseException | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self._after_end: list[Callable[[], None]] = []

    @property
    def running(self) -> bool:
        """True from :meth:`start` until the sweep's result is final."""
        return not self.ended.is_set()

    @property
    def stopping(self) -> bool:
        """True while a stop was asked for and the sweep has not ended yet."""
        return self.running and self._stop.is_set()

    def elapsed(self) -> float | None:
        """Seconds since the last sweep started, until it ended (None before any sweep)."""
        if self.started_at is None:
            return None
        ended = self.ended_at if self.ended_at is not None else time.perf_counter()
        return ended - self.started_at

    def start(
        self,
        engine: Any,
        learn: Any,
        sweep: Sweep,
        stop_div: bool,
        *,
        seeds: Sequence[int | None] = (None,),
        next_sweep: Callable[[int], Sweep] | None = None,
    ) -> None:
        """Run ``engine.run_sweep`` on ``learn`` in a new worker thread, recording into ``sweep``.

        With several ``seeds`` (repeats), one sweep per seed, one after the other, each from
        the restored Learner: ``next_sweep(i)`` gives the empty sweep of repeat ``i``.  A stop
        ends the repeats.  The caller checks first that nothing runs (:attr:`running`,
        :func:`holder_of`).
        """

        def work(stop: threading.Event) -> Any:
            result: Any = None
            current = sweep
            for index, seed in enumerate(seeds):
                if index:
                    if stop.is_set() or next_sweep is None:
                        break
                    current = next_sweep(index)
                    with self._lock:  # the progress text times each repeat on its own
                        self.sweep, self.started_at = current, time.perf_counter()
                schedule = (current.start_lr, current.end_lr, current.num_it, stop_div)
                options = {} if seed is None else {"seed": seed}
                result = engine.run_sweep(
                    learn, *schedule, on_batch=self._on_batch, stop=stop, sweep=current, **options
                )
            return result

        self.start_job("sweep", learn, work, sweep)

    def start_job(
        self, kind: str, learn: Any, work: Callable[[threading.Event], Any], sweep: Sweep | None
    ) -> None:
        """Run ``work(stop_event)`` on ``learn`` in a new worker thread; ``kind`` ("sweep",
        "trials") says what holds the Learner meanwhile.  Its return value is :attr:`result`."""
        with self._lock:
            self._stop = threading.Event()
            self.ended, self.drawn = threading.Event(), threading.Event()
            self.kind, self._learn, self.result = kind, learn, None
            if sweep is not None:
                self.sweep = sweep
            self.error = self.draw_error = None
            if kind == "sweep":  # the sweep's own timings (the progress text shows them)
                self.started_at, self.ended_at = time.perf_counter(), None
        with _HOLDERS_LOCK:
            _HOLDERS[id(learn)] = self
        worker = threading.Thread(
            target=self._work,
            args=(learn, work, sweep if kind == "sweep" else None, self._stop),
            kwargs={"ended": self.ended, "drawn": self.drawn},
            name=f"lrwidget-{kind}",
            daemon=True,
        )
        worker.start()

    def stop(self) -> None:
        """Ask the running sweep to stop; it ends within one batch, keeping its points."""
        self._stop.set()

    def after_end(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the worker thread) once the running sweep has ended and
        been drawn; at once when nothing runs."""
        with self._lock:
            if self.running:
                self._after_end.append(callback)
                return
        callback()

    def _work(
        self,
        learn: Any,
        work: Callable[[threading.Event], Any],
        sweep: Sweep | None,
        stop: threading.Event,
        *,
        ended: threading.Event,
        drawn: threading.Event,
    ) -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = work(stop)
        except BaseException as caught:
            error = caught
            if sweep is not None and sweep.status == "running":
                sweep.status, sweep.error = "failed", describe(caught)
        finally:
            self._end(learn, result, error, ended, drawn)

    def _end(
        self,
        learn: Any,
        result: Any,
        error: BaseException | None,
        ended: threading.Event,
        drawn: threading.Event,
    ) -> None:
        with self._lock:
            self.result = result
            if isinstance(result, Sweep):
                self.sweep = result
            self.error, self._learn = error, None
            if self.kind == "sweep":
                self.ended_at = time.perf_counter()
        with _HOLDERS_LOCK:
            if _HOLDERS.get(id(learn)) is self:
                del _HOLDERS[id(learn)]
        ended.set()
        try:
            self._on_end()
        except Exception as caught:
            self.draw_error = caught
        finally:
            drawn.set()
        with self._lock:
            callbacks, self._after_end = self._after_end, []
        for callback in callbacks:
            with contextlib.suppress(Exception):
                callback()


# -- the engine ------------------------------------------------------------------------------
def resolve_engine(engine: Any, learn: Any) -> Any:
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


def check_run_arguments(
    engine: Any, learn: Any, start_lr: float, end_lr: float, num_it: int, stop_div: bool
) -> None:
    """Validate the sweep arguments with the engine's own checks (one set of rules).

    With a Learner, the engine's checks run; without one (a recorded sweep) the adapter is
    not imported, so fastai is never needed to view a sweep.
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


# -- the kernel's interrupt ---------------------------------------------------------------------
_WATCH_LOCK = threading.Lock()
_watching = False


def stop_all() -> int:
    """Stop every running sweep in this process; returns how many were running."""
    runners = running_sweeps()
    for runner in runners:
        runner.stop()
    return len(runners)


def _chain(previous: Any) -> Callable[[int, Any], None]:
    """A SIGINT handler that stops running sweeps, then does what ``previous`` did."""

    def on_interrupt(signum: int, frame: Any) -> None:
        stop_all()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt

    on_interrupt.lrwidget_previous = previous  # type: ignore[attr-defined]
    return on_interrupt


def _on_cell_end(result: Any) -> None:
    # A busy cell's interrupt raised KeyboardInterrupt there (the kernel's handler while a
    # cell runs); stop the sweeps as the idle handler does.
    if isinstance(getattr(result, "error_in_exec", None), KeyboardInterrupt):
        stop_all()


def watch_interrupts() -> None:
    """Make SIGINT (the kernel's ■ button, Ctrl-C) stop running sweeps.  Idempotent.

    In ipykernel the idle handler ignores SIGINT and, while a message is handled, the
    kernel swaps in Python's default handler and restores its saved one afterwards; so the
    idle handler is chained through the kernel's saved handler, and a cell interrupted while
    busy is seen through IPython's ``post_run_cell`` event.  Outside a kernel the process's
    handler is chained.  Only the main thread can set handlers: elsewhere this does nothing.
    """
    global _watching
    if threading.current_thread() is not threading.main_thread():
        return
    with _WATCH_LOCK:
        if _watching:
            return
        _watching = True
    shell = _ipython_shell()
    kernel = getattr(shell, "kernel", None)
    saved = getattr(kernel, "saved_sigint_handler", None)
    if kernel is not None and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        # Inside a kernel handler: the saved handler is the idle one, restored afterwards.
        kernel.saved_sigint_handler = _chain(saved)
    else:
        signal.signal(signal.SIGINT, _chain(signal.getsignal(signal.SIGINT)))
    if shell is not None and hasattr(shell, "events"):
        shell.events.register("post_run_cell", _on_cell_end)


def _ipython_shell() -> Any:
    import sys

    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    return get_ipython() if get_ipython is not None else None
