"""A fake sweep engine for ``LRFinderWidget(learn, ..., engine=...)``: no fastai, no training.

:class:`ReplayEngine` replays a recorded sweep batch by batch through the engine interface
the widget calls (``run_sweep(learn, start_lr, end_lr, num_it, stop_div, *, on_batch, stop,
sweep) -> Sweep``), as fastai's adapter does: append the point, call ``on_batch``, check
``stop`` before the next batch.  It can make each batch take a while (sleeping, or spinning
with the GIL held as fastai's Python training loop does), fail at a given batch, or hold at a
given batch until the test releases it, so a test can act mid-sweep at a known point instead
of racing the clock::

    engine = ReplayEngine(sweep, pause_at=40)
    widget = engine.widget()
    widget.start()
    pause = engine.pauses[40]
    assert pause.reached.wait(60)  # 40 points recorded; the next batch waits for release
    ...                            # the sweep is certainly still running here
    pause.release.set()
    widget.wait(60, chart=True)

:func:`synthetic_sweep` makes a range-test-shaped curve of any length to replay.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from lrwidget.sweep import Status, Sweep

__all__ = ["Pause", "ReplayEngine", "synthetic_sweep"]

HOLD_TIMEOUT = 60.0  # a paused sweep nobody releases fails instead of hanging the run


def synthetic_sweep(
    num_it: int, start_lr: float = 1e-7, end_lr: float = 10.0, *, seed: int = 0
) -> Sweep:
    """A finished sweep shaped like a range test: flat, a descent, a minimum, then a rise.

    The learning rates follow the sweep's own exponential schedule, so replaying it into a
    widget built with the same ``start_lr``, ``end_lr`` and ``num_it`` matches what fastai
    would record.  The noise is seeded: the same arguments give the same sweep.
    """
    lrs = start_lr * (end_lr / start_lr) ** (np.arange(num_it) / num_it)
    position = np.log10(lrs)
    losses = 1.5 - 0.8 / (1 + np.exp(-2 * (position + 4))) + 0.05 * np.exp(2 * (position + 1))
    losses = losses + np.random.default_rng(seed).normal(0, 0.03, num_it)
    return Sweep.from_arrays(lrs, losses, num_it=num_it, start_lr=start_lr, end_lr=end_lr)


@dataclass
class Pause:
    """A batch the replay holds at: it sets ``reached`` there and waits for ``release``."""

    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class ReplayEngine:
    """Replays ``source`` (its first ``num_it`` points) into the widget's sweep.

    Args:
        source: the recorded sweep; the widget's ``start_lr``/``end_lr`` are not checked
            against it (the points keep their own learning rates).
        delay: seconds each batch takes before its point is recorded, or a function of the
            batch index (0-based) giving them.
        spin: spend the delay busy-waiting with the GIL held (as fastai's training loop
            does) instead of sleeping.
        fail_at: the 0-based batch that raises ``error`` instead of recording its point
            (``fail_at`` points are kept).
        error: what ``fail_at`` raises; by default
            ``FloatingPointError("loss exploded at batch N")``.
        pause_at: the 0-based batch (or batches) that, before recording its point, holds
            at its :class:`Pause` in :attr:`pauses` (``pause_at`` points are recorded by
            then).  Stop, when asked during a pause, ends the sweep after that batch's point
            (the batch in flight finishes, as in fastai).

    After a sweep, :attr:`batch_ends` holds the ``perf_counter()`` time at which each point
    was recorded (just before ``on_batch``) and :attr:`ended_at` the time ``run_sweep``
    returned or raised; :attr:`finished` is set from then until the next sweep starts.
    """

    def __init__(
        self,
        source: Sweep,
        *,
        delay: float | Callable[[int], float] = 0.0,
        spin: bool = False,
        fail_at: int | None = None,
        error: BaseException | None = None,
        pause_at: int | Collection[int] = (),
    ) -> None:
        self.source = source
        self.delay = delay
        self.spin = spin
        self.fail_at = fail_at
        self.error = error
        batches = (pause_at,) if isinstance(pause_at, int) else tuple(pause_at)
        self.pauses = {batch: Pause() for batch in batches}
        self.finished = threading.Event()
        self.batch_ends: list[float] = []
        self.ended_at = float("nan")

    def widget(self, learn: Any = None, **settings: Any) -> Any:
        """An ``LRFinderWidget`` sweeping with this engine over the source's schedule.

        ``learn`` defaults to a stand-in with an ``lr`` attribute (what ``apply()`` sets);
        ``settings`` go to the constructor and may override ``start_lr``, ``end_lr`` and
        ``num_it``.
        """
        from lrwidget.widget import LRFinderWidget

        schedule = {
            "start_lr": self.source.start_lr,
            "end_lr": self.source.end_lr,
            "num_it": self.source.num_it,
        }
        learner = SimpleNamespace(lr=1e-3) if learn is None else learn
        return LRFinderWidget(learner, **(schedule | settings), engine=self)

    # --- the engine interface ---------------------------------------------------------------

    def check_arguments(
        self, learn: Any, start_lr: float, end_lr: float, num_it: int, stop_div: bool
    ) -> None:
        """Accepts any arguments: the real checks belong to fastai's adapter."""

    def run_sweep(
        self,
        learn: Any,
        start_lr: float,
        end_lr: float,
        num_it: int,
        stop_div: bool,
        *,
        on_batch: Callable[[Sweep], object] | None = None,
        stop: threading.Event | None = None,
        sweep: Sweep | None = None,
    ) -> Sweep:
        """Record the source's points into ``sweep`` one batch at a time (see the class)."""
        if sweep is None:
            sweep = Sweep(num_it, start_lr, end_lr, stop_div=stop_div)
        self.batch_ends = []
        self.finished.clear()
        for pause in self.pauses.values():
            pause.reached.clear()
        try:
            status = self._replay(sweep, num_it, on_batch, stop)
        except BaseException as error:
            self._finish()
            sweep.status, sweep.error = "failed", f"{type(error).__name__}: {error}"
            raise
        # Finished before the status is final, so anything that shows the final status
        # comes after `finished` (tests hold back what is sent from then on).
        self._finish()
        sweep.status = status
        return sweep

    def _finish(self) -> None:
        self.ended_at = time.perf_counter()
        self.finished.set()

    def _replay(
        self,
        sweep: Sweep,
        num_it: int,
        on_batch: Callable[[Sweep], object] | None,
        stop: threading.Event | None,
    ) -> Status:
        count = min(num_it, len(self.source))
        for index in range(count):
            if stop is not None and stop.is_set():
                return "stopped"
            self._wait(index)
            pause = self.pauses.get(index)
            if pause is not None:
                pause.reached.set()
                if not pause.release.wait(HOLD_TIMEOUT):
                    raise TimeoutError(f"nobody released the sweep paused at batch {index}")
            if index == self.fail_at:
                raise self.error or FloatingPointError(f"loss exploded at batch {index}")
            sweep.append(float(self.source.lrs[index]), float(self.source.losses[index]))
            self.batch_ends.append(time.perf_counter())
            if on_batch is not None:
                on_batch(sweep)
        return "done"

    def _wait(self, index: int) -> None:
        seconds = self.delay(index) if callable(self.delay) else self.delay
        if seconds <= 0:
            return
        if not self.spin:
            time.sleep(seconds)
            return
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            pass
