"""An in-memory snapshot of everything a learning-rate sweep changes on a fastai Learner.

:func:`snapshot` is the only entry point.  It records, without writing any file:

* the model: every parameter and buffer (values, ``requires_grad``, gradients), and every
  module's attributes (``training`` included) and child, parameter and buffer tables;
* the optimizer, or its absence: its attributes, per-parameter state and hyper-parameters
  (for fastai's ``OptimWrapper``, the wrapped torch optimizer's state and ``param_groups``);
* the Learner's attributes, its callback list and every callback's attributes (the recorder's
  history among them), the metrics, the DataLoaders' attributes and shuffling generators;
* the global random number generators: Python's, numpy's legacy one, torch's CPU and CUDA ones.

It returns a function that puts all of it back.  Tensors are restored *in place* (same objects,
saved contents), so references held elsewhere — the optimizer's to the parameters, a user's to
a layer — stay valid.  This module imports torch and fastai.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import torch
from fastai.learner import Learner, Metric
from fastcore.foundation import L

# The model, the tensor trees, the attributes and the RNGs are kept as for a plain model;
# what is fastai's own (the Learner, callbacks, DataLoaders, ``L``) is added here.
from lrwidget._torch_state import (
    _Attributes,
    _ModelState,
    _RandomState,
    _TensorTree,
)

__all__ = ["snapshot"]


#: The Learner's own hyper-parameters: a value the user sets on the Learner while a sweep
#: runs is kept when the sweep restores the Learner (fastai's fit never sets them).
USER_SETTINGS = ("lr", "wd", "moms", "wd_bn_bias", "train_bn")
_MISSING_SETTING = object()


def snapshot(learn: Learner) -> Callable[[], None]:
    """Record everything of ``learn`` that a sweep may change; return the function restoring it.

    Calling the returned function (once, after the sweep, however it ended) puts back the
    model's tensors and module attributes, the optimizer (or ``learn.opt = None``), the
    Learner's attributes — attributes set on it after the snapshot, such as method guards
    installed on the instance, are deleted —, the callback list and the callbacks' state,
    the metrics, the DataLoaders and the global random number generators.  The Learner's
    hyper-parameters in :data:`USER_SETTINGS` set meanwhile (``learn.lr = 1e-3`` from another
    cell while a sweep runs) are kept, never silently reverted.

    Example:
        >>> restore = snapshot(learn)                           # doctest: +SKIP
        >>> learn.fit(1)                                        # doctest: +SKIP
        >>> restore()  # learn is bit-for-bit as before the fit   # doctest: +SKIP
    """
    return _LearnerState(learn).restore


class _LearnerState:
    """Everything of the user's that a sweep touches, held in memory."""

    def __init__(self, learn: Learner) -> None:
        self.learn = learn
        self.learner = _Attributes(learn)
        self.settings = {name: getattr(learn, name, _MISSING_SETTING) for name in USER_SETTINGS}
        loaders = list(getattr(learn.dls, "loaders", ()))
        self.objects = [
            _Attributes(item) for item in _user_objects(learn, loaders) if hasattr(item, "__dict__")
        ]
        self.callback_list = _ListItems(learn.cbs)
        self.loader_generators = [
            (loader.rng, loader.rng.getstate())
            for loader in loaders
            if isinstance(getattr(loader, "rng", None), random.Random)
        ]
        self.model = _ModelState(learn.model)
        self.optimizer = None if learn.opt is None else _OptimizerState(learn.opt)
        self.random = _RandomState()

    def restore(self) -> None:
        self.model.restore()
        if self.optimizer is not None:
            self.optimizer.restore()
        for item in self.objects:
            item.restore()
        self.callback_list.restore()
        for generator, generator_state in self.loader_generators:
            generator.setstate(generator_state)
        self.random.restore()
        # What the user set meanwhile (learn.lr = ..., from another cell) survives the
        # restore: neither fastai's fit nor the sweep sets these.
        changed = {
            name: getattr(self.learn, name, _MISSING_SETTING)
            for name, value in self.settings.items()
            if getattr(self.learn, name, _MISSING_SETTING) is not value
        }
        # Last: this also deletes what was set on the Learner during the sweep (its guards).
        self.learner.restore()
        for name, value in changed.items():
            if value is not _MISSING_SETTING:
                setattr(self.learn, name, value)


def _user_objects(learn: Learner, loaders: list[Any]) -> list[Any]:
    """The callbacks, the metrics they hold, the Learner's metrics and the DataLoaders."""
    objects: list[Any] = []
    for callback in learn.cbs:
        objects.append(callback)
        objects += [value for value in vars(callback).values() if isinstance(value, Metric)]
    objects += [metric for metric in getattr(learn, "metrics", ()) if hasattr(metric, "__dict__")]
    return objects + loaders


class _ListItems:
    """The items of a list, or of a fastcore ``L`` (which keeps them in its ``items`` list),
    put back into the same list object; an ``L`` gets that list back if it was rebound."""

    __slots__ = ("saved", "target", "wrapper")

    def __init__(self, sequence: list[Any] | L) -> None:
        self.wrapper = sequence if isinstance(sequence, L) else None
        self.target: list[Any] = sequence.items if isinstance(sequence, L) else sequence
        self.saved = list(self.target)

    def restore(self) -> None:
        if self.wrapper is not None and self.wrapper.items is not self.target:
            self.wrapper.items = self.target
        self.target[:] = self.saved


class _OptimizerState:
    """A fastai ``Optimizer`` or ``OptimWrapper``: attributes, per-parameter state, hypers
    (for a wrapper, the torch optimizer's state and param_groups), contents restored in place."""

    def __init__(self, optimizer: Any) -> None:
        self.attributes = [_Attributes(optimizer)]
        containers: list[Any] = [optimizer.__dict__.get("state"), optimizer.__dict__.get("hypers")]
        inner = optimizer.__dict__.get("opt")
        if isinstance(inner, torch.optim.Optimizer):
            self.attributes.append(_Attributes(inner))
            containers += [inner.state, inner.param_groups]
        self.tree = _TensorTree([item for item in containers if item is not None], _capture_l)

    def restore(self) -> None:
        for attributes in self.attributes:
            attributes.restore()
        self.tree.restore()


def _capture_l(value: Any, capture: Callable[[Any], Callable[[], Any]]) -> Callable[[], Any] | None:
    """A fastcore ``L`` (fastai's hypers are one): its ``items`` list captured, and the same
    ``L`` given that list back.  None for anything else."""
    if not isinstance(value, L):
        return None
    wrapper, restore_items = value, capture(value.items)

    def restore_l() -> Any:
        wrapper.items = restore_items()
        return wrapper

    return restore_l
