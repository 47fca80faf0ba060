"""Trial fits from the widget: Try these LRs (a mixin of :class:`lrwidget.LRFinderWidget`).

:meth:`TrialControl.start_trials` runs :func:`lrwidget.run_trials` in the widget's background
runner (the same one as sweeps, so a sweep and trials exclude each other), one short
``fit_one_cycle`` per candidate learning rate; each finished trial is drawn under the marker
of the rule that suggested it, and the training losses stream while a trial runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lrwidget._errors import LRWidgetValueError, SweepRunningError
from lrwidget._runner import holder_of, watch_interrupts
from lrwidget._trials_view import Candidate, best_index, candidates
from lrwidget.settings import CUSTOM

if TYPE_CHECKING:
    from lrwidget._runner import SweepRunner
    from lrwidget._stream import StreamScheduler
    from lrwidget.analysis import Analysis


@dataclass
class TrialState:
    """The trials shown: the candidates tried, their results so far, the running one."""

    tried: list[Candidate] = field(default_factory=list)
    trials: list[Any] = field(default_factory=list)  # finished Trials, then the running one
    batch: int = 0
    batches: int | None = None  # per trial
    started_at: float | None = None

    def eta(self) -> float | None:
        """Seconds left, from the pace so far (None until a batch has run)."""
        if self.started_at is None or not self.batches:
            return None
        done = max(len(self.trials) - 1, 0) * self.batches + self.batch
        left = len(self.tried) * self.batches - done
        return (time.perf_counter() - self.started_at) / done * left if done else None


class TrialControl:
    """Run short trial fits at the suggested learning rates (mixed into the widget)."""

    if TYPE_CHECKING:  # provided by LRFinderWidget
        _learn: Any
        _engine: Any
        _runner: SweepRunner
        _stream: StreamScheduler
        _lock: threading.RLock
        _trial_state: TrialState
        _notice: str
        shown_rules: list[str]
        custom_lr: float | None

        @property
        def analysis(self) -> Analysis | None: ...
        def _refresh(self) -> None: ...

    @property
    def trials(self) -> list[Any]:
        """The trials of the last :meth:`start_trials` (:class:`lrwidget.Trial`), in order;
        while they run, the finished ones and the running one so far."""
        with self._lock:
            return list(self._trial_state.trials)

    @property
    def best_trial(self) -> Any:
        """The finished trial with the lowest validation loss, or None."""
        trials = self.trials
        index = best_index(trials)
        return None if index is None else trials[index]

    def start_trials(
        self, lrs: Sequence[float] | None = None, epochs: int = 1, n_batches: int | None = None
    ) -> None:
        """Train briefly at each candidate LR in the background, each from the same start.

        Each trial is ``learn.fit_one_cycle(epochs, lr)`` (over the first ``n_batches``
        training batches of each epoch when given) from the Learner's current state, which
        is restored exactly afterwards (:func:`lrwidget.run_trials`; plain PyTorch:
        :func:`lrwidget.run_torch_trials`).  :meth:`wait` waits for them; :attr:`trials`
        holds them; ``selected = "best trial"`` then :meth:`apply` sets the winner.

        Args:
            lrs: The learning rates; None means the shown rules' suggestions plus your custom
                pick, duplicates merged.
            epochs, n_batches: Each trial's budget.

        Raises:
            RuntimeError: with no Learner.
            SweepRunningError: while a sweep or trials run on the Learner.
            LRWidgetValueError: for bad arguments or no LR to try, before anything runs.
        """
        if self._learn is None:
            raise RuntimeError("trials need a Learner; this widget shows a recorded sweep.")
        if not getattr(self._engine, "supports_trials", True):
            raise RuntimeError(
                f"this widget's engine ({type(self._engine).__name__}) runs no trial fits; "
                f"train at each of w.suggestions yourself."
            )
        if self._runner.running or holder_of(self._learn) is not None:
            raise SweepRunningError(
                "Try refused: a sweep or trials are running on this Learner. Stop them "
                "(widget.stop()) or wait for them (widget.wait()), then try again."
            )
        tried = self._candidates(lrs)
        engine = self._trials_engine()
        values, budget = engine.check_trial_arguments(
            self._learn, [candidate.lr for candidate in tried], epochs, n_batches
        )
        per_epoch = _batches_per_epoch(self._learn, budget.n_batches)
        watch_interrupts()
        self._runner.drawn.wait()
        with self._lock:
            self._trial_state = TrialState(
                tried, [], 0, per_epoch * budget.epochs if per_epoch else None, time.perf_counter()
            )

        def work(stop: threading.Event) -> Any:
            return engine.run_trials(
                self._learn,
                values,
                epochs=budget.epochs,
                n_batches=budget.n_batches,
                on_batch=self._on_trial_batch,
                on_trial=self._on_trial_end,
                stop=stop,
            )

        self._stream.start()
        self._runner.start_job("trials", self._learn, work, None)
        self._refresh()

    def _trials_engine(self) -> Any:
        """What checks and runs trials: the engine when it provides ``run_trials`` and
        ``check_trial_arguments`` (plain PyTorch), else fastai's :mod:`lrwidget._trials`."""
        if callable(getattr(self._engine, "run_trials", None)):
            return self._engine
        from lrwidget import _trials

        return _trials

    def _candidates(self, lrs: Sequence[float] | None) -> list[Candidate]:
        if lrs is not None:
            if isinstance(lrs, str) or not isinstance(lrs, Sequence):
                lrs = [lrs]  # check_trial_arguments names what is wrong with it
            return [Candidate(lr, (f"lr {index + 1}",)) for index, lr in enumerate(lrs)]
        analysis = self.analysis
        suggestions: dict[str, float | None] = {}
        if analysis is not None:
            suggestions = {name: result.lr for name, result in analysis.rules.items()}
        if self.custom_lr is not None:
            suggestions[CUSTOM] = self.custom_lr
        found = candidates(suggestions, self.shown_rules)
        if not found:
            raise LRWidgetValueError(
                "there is no learning rate to try yet: run a sweep first (or pick one on the "
                "chart), or pass lrs=[...] to start_trials."
            )
        return found

    def _on_trial_batch(self, trial_index: int, batch_index: int, trial: Any) -> None:
        with self._lock:
            state = self._trial_state
            del state.trials[trial_index:]
            state.trials.append(trial)
            state.batch = batch_index + 1
        self._stream.poke()

    def _on_trial_end(self, trial_index: int, trial: Any) -> None:
        with self._lock:
            state = self._trial_state
            del state.trials[trial_index:]
            state.trials.append(trial)
        self._stream.poke()

    def _trials_ended(self) -> None:
        """The runner's job ended (worker thread): keep what ``run_trials`` returned."""
        runner = self._runner
        result = runner.result
        if result is None and runner.error is not None:
            result = getattr(runner.error, "lrwidget_trials", None)
        if result is not None:
            with self._lock:
                self._trial_state.trials = list(result)

    def _on_try_clicked(self, _button: Any) -> None:
        try:
            self.start_trials()
        except (RuntimeError, ValueError, TypeError) as error:
            self._notice = str(error)
            self._refresh()

    def _best_lr(self) -> float | None:
        best = self.best_trial
        return None if best is None else float(best.lr)


def _batches_per_epoch(learn: Any, n_batches: int | None) -> int | None:
    try:
        per_epoch = len(learn.dls.train)
    except (AttributeError, TypeError):
        return n_batches
    return per_epoch if n_batches is None else min(per_epoch, n_batches)
