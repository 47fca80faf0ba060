"""One-cycle trials of a few learning rates on a fastai Learner, each from the same start.

:func:`run_trials` runs fastai's ``fit_one_cycle(epochs, lr)`` once per learning rate, each
time from the state the Learner was in when it was called, and puts the Learner back exactly
as it was however the run ends (:mod:`lrwidget._snapshot`).  Meanwhile the Learner refuses
other training as during a sweep (:mod:`lrwidget._guards`): a sweep and trials exclude each
other.  One trial is one call of :func:`run_one_trial` — (the Learner's current state, lr,
budget) -> :class:`Trial` — so trials can later run elsewhere without touching the widget.
This module imports fastai and torch; the numpy core of lrwidget never imports it.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import fastai.callback.schedule  # noqa: F401  (attaches Learner.fit_one_cycle)
from fastai.callback.core import Callback, CancelFitException, event
from fastai.callback.progress import CSVLogger, ProgressCallback
from fastai.learner import Learner
from fastcore.foundation import L

from lrwidget._errors import LRWidgetValueError
from lrwidget._fastai import _check_learner
from lrwidget._guards import SweepGuard, claim, install_guards, release
from lrwidget._snapshot import snapshot
from lrwidget._torch_state import _Attributes
from lrwidget._trial_checks import check_count, check_lrs, check_trial_hooks
from lrwidget._trial_record import Budget, OnBatch, Trial, TrialProgress
from lrwidget._worker import StopSignal, describe, sigint_blocked

__all__ = ["Trial", "check_trial_arguments", "run_one_trial", "run_trials"]

TRIALS = "a run of learning-rate trials"  # what holds the Learner, in refusal messages

# Left out of every trial: the progress bar writes into whichever cell is current (the wrong
# one from a background thread) and CSVLogger writes learn.path/history.csv.
_LEFT_OUT = (ProgressCallback, CSVLogger)


def run_trials(
    learn: Learner,
    lrs: Iterable[float],
    *,
    epochs: int = 1,
    n_batches: int | None = None,
    on_batch: OnBatch | None = None,
    stop: StopSignal | None = None,
    on_trial: Callable[[int, Trial], object] | None = None,
) -> list[Trial]:
    """Train ``learn.fit_one_cycle(epochs, lr)`` for each ``lr``, each from the same start.

    Every trial starts from the state ``learn`` is in now (weights, optimizer state or none,
    ``learn.lr``, recorder, RNGs, data order), so with ``n_batches=None`` its losses,
    ``valid_loss`` and metrics equal (``==``) those of ``fit_one_cycle(epochs, lr)`` on an
    identically built Learner; afterwards ``learn`` is exactly as it was.  No file is written
    (the progress bar and ``CSVLogger`` are left out; trackers stand aside as in lr_find).

    ``n_batches=B``, a budget for large datasets, trains each epoch on the first ``B``
    batches of ``learn.dls.train``'s usual shuffled order, then validates on the whole
    validation set: ``fit_one_cycle(epochs, lr)`` with a callback whose ``before_train`` sets
    ``learn.dl = list(itertools.islice(learn.dl, B))``.  fastai's loop then sets ``n_iter =
    B``, so the one cycle spans ``epochs * B`` batches.  ``B`` >= an epoch trains whole epochs.

    Args:
        learn: A fastai ``Learner`` with training and validation data and a loss function.
        lrs: The learning rates, one trial each (finite numbers > 0), run in this order.
        epochs: Epochs per trial (an integer >= 1), as in ``fit_one_cycle(epochs, lr)``.
        n_batches: None, or the training batches per epoch (an integer >= 1).
        on_batch: ``on_batch(trial_index, batch_index, trial)`` after each training batch,
            in the trials' thread; ``trial`` is the partial :class:`Trial` (``"running"``),
            its losses O(1) read-only views of the ``batch_index + 1`` batches so far.  If it
            raises, that trial is ``"failed"``, the later ones ``"stopped"``, and the
            exception reaches the caller unchanged.
        stop: Event-like (``is_set()``).  Once set, the current trial ends within one batch
            as ``"stopped"``, keeping its losses; the later ones are ``"stopped"``, empty.
        on_trial: ``on_trial(trial_index, trial)`` with each final :class:`Trial`, once
            ``learn`` is restored after it.

    Returns:
        One :class:`Trial` per learning rate, in order.  After a trial diverges or fails (an
        exception in the model, the loss or a callback) the next trials still run.

    Raises:
        LRWidgetValueError, TypeError: on a bad argument, before any batch runs.
        SweepRunningError: if a sweep or other trials are running on ``learn``.
        BaseException: ``KeyboardInterrupt`` or what ``on_batch`` raised (the same object),
            after ``learn`` is restored, with the trials attached as ``exc.lrwidget_trials``.

    Example: ``[(t.lr, t.status) for t in run_trials(learn, [1e-3, 1e-2])]``.
    """
    values, budget = check_trial_arguments(learn, lrs, epochs, n_batches)
    check_trial_hooks(on_batch, stop)
    if on_trial is not None and not callable(on_trial):
        raise TypeError(f"on_trial must be callable or None; got {on_trial!r}.")
    return _run_all(learn, values, budget, on_batch, stop, on_trial)


def _run_all(
    learn: Learner,
    lrs: tuple[float, ...],
    budget: Budget,
    on_batch: OnBatch | None,
    stop: StopSignal | None,
    on_trial: Callable[[int, Trial], object] | None = None,
) -> list[Trial]:
    """Claim and guard ``learn``, run the trials in order, restoring ``learn`` after each;
    always unguard and release it.  Raises what ``on_batch`` raised."""
    held = claim(learn, "run_trials", TRIALS)
    trials: list[Trial] = []
    progress: TrialProgress | None = None
    try:
        fit = learn.fit  # fastai's own: the guards installed next refuse every other fit
        unguarded = _Attributes(learn)
        install_guards(learn, held)
        try:
            # Taken with the guards in place, so restoring between trials keeps them there.
            restore = snapshot(learn)
            for index, lr in enumerate(lrs):
                progress = TrialProgress(index, lr, on_batch, stop)
                if progress.stop_requested():
                    trials.append(Trial(lr, "stopped"))
                    continue
                held.expect_own_fit()
                try:
                    trial = run_one_trial(learn, budget, progress, fit, [_DirectGuard(held)])
                finally:
                    restore()
                if progress.hook_error is not None:
                    raise progress.hook_error
                trials.append(trial)
                if on_trial is not None:
                    on_trial(index, trial)
        finally:
            unguarded.restore()  # the snapshot already put back everything else
    except BaseException as exc:
        if progress is not None and len(trials) == progress.index:  # the trial it ended
            interrupted = isinstance(exc, KeyboardInterrupt)
            error = None if interrupted else describe(exc)
            trials.append(progress.result("stopped" if interrupted else "failed", error=error))
        trials += [Trial(lr, "stopped") for lr in lrs[len(trials) :]]
        with contextlib.suppress(AttributeError, TypeError):  # a type may refuse attributes
            exc.lrwidget_trials = trials  # type: ignore[attr-defined]
        raise
    finally:
        release(learn)
    return trials


# --- one trial ---------------------------------------------------------------------------


def run_one_trial(
    learn: Learner,
    budget: Budget,
    progress: TrialProgress,
    fit: Callable[..., Any] | None = None,
    callbacks: Sequence[Callback] = (),
) -> Trial:
    """One trial from ``learn``'s current state: ``fit_one_cycle(budget.epochs, progress.lr)``
    through ``fit`` (the Learner's own by default), recorded into ``progress``; ``learn`` is
    left trained.  An ``Exception`` makes a ``"failed"`` trial; ``KeyboardInterrupt`` rises.
    """
    added = [*callbacks, _TrialRecorder(progress)]
    if budget.n_batches is not None:
        added.append(_EpochBudget(budget.n_batches))
    learn.cbs = L(callback for callback in learn.cbs if not isinstance(callback, _LEFT_OUT))
    one_cycle = _OwnFit(learn, learn.fit if fit is None else fit)
    try:
        with learn.no_logging(), sigint_blocked():
            Learner.fit_one_cycle(one_cycle, budget.epochs, progress.lr, cbs=added)
    except Exception as exc:
        return progress.result("failed", error=describe(exc))
    if progress.ending is not None:
        return progress.result(progress.ending, error=progress.error)
    per_epoch = len(learn.dls.train)
    if budget.n_batches is not None:
        per_epoch = min(per_epoch, budget.n_batches)
    # Fewer batches than planned: another callback cancelled the fit.
    done = len(progress.train_losses) == budget.epochs * per_epoch
    return progress.result("done" if done else "stopped", *_final_record(learn))


def _final_record(learn: Learner) -> tuple[float | None, dict[str, Any]]:
    """The last epoch's validation loss and metrics, by name, from fastai's Recorder."""
    recorder = learn.recorder
    logged = recorder.__dict__.get("values") or []
    if not logged:
        return None, {}
    names = list(recorder.metric_names)[1:]  # "epoch" is not in the record; "time" ends it
    record = dict(zip(names, logged[-1], strict=False))
    valid_loss = record.pop("valid_loss", None)
    record.pop("train_loss", None)
    return (None if valid_loss is None else float(valid_loss)), record


class _Direct(Callback):
    """A callback that fastai's dispatch reads directly: a no-op for each event it does not
    handle and ``training`` from the Learner.  Otherwise every event of every batch looks the
    missing name up through the Learner and its model, which raise AttributeError: about 1 ms
    per callback per trial of the digits MLP, 4% of its time."""

    @property
    def training(self) -> bool:
        return bool(self.learn.training)

    def _ignore(self) -> None:
        pass


for _event in (name for name in vars(event) if not name.startswith("_")):
    setattr(_Direct, _event, _Direct._ignore)


class _DirectGuard(SweepGuard, _Direct):
    """The sweep's guard of the loop (:class:`~lrwidget._guards.SweepGuard`), read directly."""


class _TrialRecorder(_Direct):
    """Records each training batch, streams it, ends the trial on NaN/inf or on stop.

    Order 55: after fastai's Recorder (50) has updated ``learn.smooth_loss``.  Named
    ``lr_finder`` so the callbacks that stand aside during fastai's finder (SaveModelCallback
    and the other trackers, ShowGraphCallback, W&B, TensorBoard) do so here too.
    """

    order, run_valid = 55, True

    def __init__(self, progress: TrialProgress) -> None:
        super().__init__()
        self.trial_progress = progress

    @property
    def name(self) -> str:
        return "lr_finder"

    def before_batch(self) -> None:
        self._stop_if_asked()

    def after_batch(self) -> None:
        learn, progress = self.learn, self.trial_progress
        if not learn.training or len(learn.yb) == 0:
            return  # mirrors Recorder.after_batch, which records nothing for these
        raw, smooth = float(learn.loss.mean().detach()), float(learn.smooth_loss)
        if not progress.add_batch(raw, smooth):  # a failing on_batch, or NaN/inf
            raise CancelFitException()
        self._stop_if_asked()

    def _stop_if_asked(self) -> None:
        if self.trial_progress.stop_requested():
            self.trial_progress.ending = "stopped"
            raise CancelFitException()


class _EpochBudget(_Direct):
    """Cuts each epoch's training loader to its first ``batch_budget`` batches.  Order -15:
    before TrainEvalCallback (-10), so every ``before_train`` sees the cut loader; fastai's
    ``all_batches`` then sets ``n_iter = len(learn.dl)``, which sizes the one cycle."""

    order = -15

    def __init__(self, batch_budget: int) -> None:
        super().__init__()
        self.batch_budget = batch_budget

    def before_train(self) -> None:
        if self.batch_budget < len(self.learn.dl):
            self.learn.dl = _FirstBatches(self.learn.dl, self.batch_budget)


class _FirstBatches:
    """The first ``size`` batches of one pass over ``loader`` (in its usual shuffled order),
    with ``len() == size``; any other attribute is the loader's."""

    def __init__(self, loader: Any, size: int) -> None:
        self.loader, self.size = loader, size

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Any]:
        batches = iter(self.loader)
        try:
            yield from itertools.islice(batches, self.size)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()  # ends the loader's pass (and its workers) now, not at collection

    def __getattr__(self, name: str) -> Any:
        if name in ("loader", "size"):  # not set yet: never look them up on the loader
            raise AttributeError(name)
        return getattr(self.loader, name)


class _OwnFit:
    """``learn`` for fastai's own ``fit_one_cycle``, with ``fit`` taken before the guards
    (which refuse every fit, the trial's own included); all else is the Learner's."""

    def __init__(self, learn: Learner, fit: Callable[..., Any]) -> None:
        self.target_learner, self.fit = learn, fit

    def __getattr__(self, name: str) -> Any:
        if name == "target_learner":
            raise AttributeError(name)
        return getattr(self.target_learner, name)


# --- validation at the boundary ---------------------------------------------------------


def check_trial_arguments(
    learn: object, lrs: object, epochs: object = 1, n_batches: object = None
) -> tuple[tuple[float, ...], Budget]:
    """Validate before anything runs (the widget may call it first): ``learn`` as for a
    sweep, with validation data; ``lrs`` non-empty, finite, > 0.  Returns ``(lrs as floats,
    Budget(epochs, n_batches))``; raises LRWidgetValueError or TypeError, naming the fix."""
    _check_learner(learn)
    loaders = getattr(learn.dls, "loaders", None)  # type: ignore[attr-defined]
    if loaders is not None and len(loaders) < 2:
        raise LRWidgetValueError(
            f"learn.dls must hold validation data (every trial validates after each epoch, "
            f"as fit_one_cycle does); got {len(loaders)} DataLoader. Pass a Learner built "
            f"with DataLoaders(train_dl, valid_dl)."
        )
    epochs = check_count("epochs", epochs, "epochs=1")
    if n_batches is not None:
        n_batches = check_count("n_batches", n_batches, "n_batches=200, or None for whole epochs")
    return check_lrs(lrs), Budget(epochs, n_batches)
