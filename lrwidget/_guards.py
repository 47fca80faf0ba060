"""Refusing other use of a Learner while a sweep runs on it.

A sweep claims its Learner (:func:`claim`) and installs the guards on it
(:func:`install_guards`); when it ends, the snapshot's restore deletes the guards (they live in
``learn.__dict__``) and the sweep releases the Learner (:func:`release`).  Meanwhile these raise
:class:`~lrwidget._errors.SweepRunningError`:

* the methods in :data:`GUARDED_METHODS`, called on the instance (``learn.fit(1)``): the
  training ones from every thread, the sweeping one included, the others from other threads;
* the methods of fastai's that those call first, so that calls made through the class, such
  as ``Learner.fit(learn, 1)``, which bypass the instance's methods, are refused before they
  change anything: ``added_cbs`` (every ``fit``; the sweep's own fit passes it once, in the
  sweeping thread), ``validation_context`` (``validate``, ``get_preds`` and what calls them;
  the sweep never does) and, from other threads, ``_end_cleanup`` (``export``);
* the ``before_fit`` event of any loop but the sweep's own fit (:class:`SweepGuard`), which
  refuses what fires fastai's events directly, such as ``Learner.tta(learn)``.

Not refused: ``Learner.save(learn, …)`` and ``Learner.load(learn, …)`` called through the
class, which call no method of the Learner.  ``Learner.fit_one_cycle(learn, …)`` and
``Learner.fit_flat_cos(learn, …)`` are refused at their inner ``self.fit``, after they have
set the optimizer's learning rate (the sweep sets it again before each batch), and
``Learner.fine_tune(learn, …)`` at its inner ``self.freeze`` from another thread.  A refused
``Learner.tta(learn)`` still sends ``after_fit`` to the callbacks (fastai does it in a
``finally``): harmless to the sweep's own callbacks and fastai's Recorder.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from fastai.callback.core import Callback
from fastai.learner import Learner

from lrwidget._errors import SweepRunningError

#: Learner methods refused while a sweep runs (they would train, evaluate, freeze, save or load
#: the very model being swept).  The first six are refused from every thread, the sweeping one
#: included, because a nested fit would train the model mid-sweep; the others from other threads
#: (and those that evaluate from every thread too, at fastai's ``validation_context``).
GUARDED_METHODS: tuple[str, ...] = (
    "fit",
    "fit_one_cycle",
    "fit_flat_cos",
    "fit_sgdr",
    "fine_tune",
    "lr_find",
    "validate",
    "get_preds",
    "predict",
    "tta",
    "save",
    "load",
    "export",
    "freeze",
    "freeze_to",
    "unfreeze",
)
_TRAINING_METHODS = frozenset(GUARDED_METHODS[:6])
_RETRY = "Wait for it to finish, or stop it (the widget's Stop button, or set its stop event)"
SWEEP = "a learning-rate sweep"


class Claim:
    """One sweep's hold on one Learner: the sweeping thread, and the entries into fastai's
    loop that the sweep's own fit has yet to pass."""

    def __init__(self, activity: str = SWEEP) -> None:
        self.activity = activity  # what holds the Learner, for the messages
        self.thread_id = threading.get_ident()
        self.thread_name = threading.current_thread().name
        self.entries_left = {"added_cbs", "before_fit"}

    def expect_own_fit(self) -> None:
        """Admit the claiming thread's next fit as its own (run_trials fits once per trial)."""
        self.entries_left = {"added_cbs", "before_fit"}

    def foreign(self) -> bool:
        """True in any thread but the sweeping one."""
        return threading.get_ident() != self.thread_id

    def admits_own_fit(self, entry: str) -> bool:
        """True the first time the sweeping thread passes ``entry``: the sweep's own fit."""
        if self.foreign() or entry not in self.entries_left:
            return False
        self.entries_left.discard(entry)  # only the sweeping thread gets here
        return True

    def refusal(self, what: str, retry: str) -> SweepRunningError:
        """The error for a refused call: what was refused, why, and what to do instead."""
        return SweepRunningError(
            f"{what} refused: {self.activity} is running on this Learner (in thread "
            f"{self.thread_name!r}) and would be corrupted by it. {_RETRY}, then {retry}."
        )


# id(learn) -> its claim.  run_sweep keeps a claimed Learner alive, so its id is not reused.
_claims: dict[int, Claim] = {}
_claims_lock = threading.Lock()


def claim(learn: Learner, caller: str = "run_sweep", activity: str = SWEEP) -> Claim:
    """Claim ``learn`` for the calling thread's ``activity`` (started by ``caller``).

    Raises:
        SweepRunningError: if a sweep (or a run of trials) already holds it.
    """
    with _claims_lock:
        held = _claims.get(id(learn))
        if held is not None:
            raise SweepRunningError(
                f"{caller}: {held.activity} is already running on this Learner (in "
                f"thread {held.thread_name!r}). {_RETRY}, then call {caller}() again."
            )
        new = _claims[id(learn)] = Claim(activity)
    return new


def release(learn: Learner) -> None:
    """End the claim on ``learn`` (after its guards are gone)."""
    with _claims_lock:
        _claims.pop(id(learn), None)


def install_guards(learn: Learner, held: Claim) -> None:
    """Replace the guarded methods and fastai's loop entries on the instance."""

    def guard(name: str, refuses: Callable[[], bool], what: str, retry: str) -> None:
        # not getattr(learn, name, None): a Learner hands unknown names on to its model
        if name not in learn.__dict__ and not hasattr(type(learn), name):
            return  # a method this fastai version does not have
        original = getattr(learn, name)

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if refuses():
                raise held.refusal(what, retry)
            return original(*args, **kwargs)

        guarded.__name__ = name
        guarded.__doc__ = getattr(original, "__doc__", None)
        learn.__dict__[name] = guarded

    def always() -> bool:
        return True

    for name in GUARDED_METHODS:
        refuses = always if name in _TRAINING_METHODS else held.foreign
        guard(name, refuses, f"learn.{name}()", f"call learn.{name}() again")
    guard(
        "added_cbs",
        lambda: not held.admits_own_fit("added_cbs"),
        "Training the Learner (fastai's fit)",
        "call it again",
    )
    guard(
        "validation_context",
        always,
        "Evaluating the Learner (fastai's validate, get_preds, predict, tta)",
        "call it again",
    )
    guard("_end_cleanup", held.foreign, "Exporting the Learner", "call it again")


class SweepGuard(Callback):
    """Refuses, at ``before_fit``, every loop entering the Learner but the sweep's own fit.

    It catches what calls fastai's events directly, such as ``Learner.tta(learn)``.  It runs
    before every other callback, so a refused loop has not reset the sweep's counters
    (fastai's ``TrainEvalCallback`` runs at order -10).
    """

    order = -math.inf

    def __init__(self, held: Claim) -> None:
        super().__init__()
        self.sweep_claim = held

    def before_fit(self) -> None:
        if not self.sweep_claim.admits_own_fit("before_fit"):
            raise self.sweep_claim.refusal(
                "Running fastai's training or evaluation loop on the Learner", "call it again"
            )
