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

import copy
import random
from collections.abc import Callable
from typing import Any

import torch
from fastai.learner import Learner, Metric
from fastcore.foundation import L

# The RNG state and leaf capture are the same for a Learner as for a plain model.
from lrwidget._torch_state import _keep, _RandomState

__all__ = ["snapshot"]

_MISSING = object()
_IMMUTABLE = (int, float, complex, bool, str, bytes, type(None), torch.dtype, torch.device)

#: id(tensor) -> (the tensor, a detached clone of its contents at snapshot time)
_Clones = dict[int, tuple[torch.Tensor, torch.Tensor]]


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


class _Attributes:
    """A shallow copy of ``obj.__dict__``, put back attribute by attribute: added ones are
    deleted, rebound ones rebound.  Writes the dict directly, so no ``__setattr__`` runs."""

    __slots__ = ("saved", "target")

    def __init__(self, owner: Any) -> None:
        self.target = owner.__dict__
        self.saved = dict(self.target)

    def restore(self) -> None:
        current, saved = self.target, self.saved
        for key in [key for key in current if key not in saved]:
            del current[key]
        for key, value in saved.items():
            if current.get(key, _MISSING) is not value:
                current[key] = value


class _DictItems:
    """A shallow copy of a dict, put back into the same dict object."""

    __slots__ = ("saved", "target")

    def __init__(self, target: dict[Any, Any]) -> None:
        self.target = target
        self.saved = dict(target)

    def restore(self) -> None:
        self.target.clear()
        self.target.update(self.saved)


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


def _copy_into(target: torch.Tensor, saved: torch.Tensor) -> None:
    """Put ``saved``'s contents back into ``target`` (the same tensor object)."""
    if (
        target.shape == saved.shape
        and target.dtype == saved.dtype
        and target.device == saved.device
    ):
        target.copy_(saved)
    else:  # moved or reshaped during the sweep: take the saved storage back
        target.data = saved


def _capture(value: Any, clones: _Clones) -> Callable[[], Any]:
    """Record ``value`` — a tensor, or dicts, lists, tuples and ``L``s nesting tensors — and
    return a function that rebuilds it: the same containers refilled with the same tensor
    objects (their contents are put back through ``clones``) and copies of other leaves."""
    if isinstance(value, torch.Tensor):
        if id(value) not in clones:
            clones[id(value)] = (value, value.detach().clone())
        return _keep(value)
    if isinstance(value, _IMMUTABLE):
        return _keep(value)
    if isinstance(value, dict):
        mapping = value
        # a param group's "params" is the list of the model's own parameters: keep it as is
        items = [
            (key, _keep(item) if key == "params" else _capture(item, clones))
            for key, item in mapping.items()
        ]

        def restore_dict() -> Any:
            mapping.clear()
            mapping.update((key, restore_item()) for key, restore_item in items)
            return mapping

        return restore_dict
    if isinstance(value, list):
        sequence = value
        elements = [_capture(item, clones) for item in sequence]

        def restore_list() -> Any:
            sequence[:] = [restore_item() for restore_item in elements]
            return sequence

        return restore_list
    if isinstance(value, L):
        wrapper, restore_items = value, _capture(value.items, clones)

        def restore_l() -> Any:
            wrapper.items = restore_items()
            return wrapper

        return restore_l
    if type(value) is tuple:
        parts = [_capture(item, clones) for item in value]
        return lambda: tuple(restore_part() for restore_part in parts)
    try:
        saved = copy.deepcopy(value)
    except Exception:  # not copyable: keep the object itself
        return _keep(value)
    return lambda: copy.deepcopy(saved)


class _TensorTree:
    """Containers of tensors (optimizer state, hyper-parameters), refilled in place."""

    def __init__(self, values: list[Any]) -> None:
        self.clones: _Clones = {}
        self.restorers = [_capture(value, self.clones) for value in values]

    def restore(self) -> None:
        for restore in self.restorers:
            restore()
        for original, clone in self.clones.values():
            _copy_into(original, clone)


class _ModelState:
    """Parameters, buffers, gradients, ``requires_grad`` and every module's attributes
    (``training`` included), restored in place so that the optimizer's references stay valid."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.modules: list[tuple[_Attributes, _DictItems, _DictItems, _DictItems]] = []
        self.tensors: _Clones = {}
        self.parameters: dict[
            int, tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, bool]
        ] = {}
        for module in model.modules():
            self.modules.append(
                (
                    _Attributes(module),
                    _DictItems(module._parameters),
                    _DictItems(module._buffers),
                    _DictItems(module._modules),
                )
            )
            for tensor in (*module._parameters.values(), *module._buffers.values()):
                if tensor is not None and id(tensor) not in self.tensors:
                    self.tensors[id(tensor)] = (tensor, tensor.detach().clone())
            for parameter in module._parameters.values():
                if parameter is not None and id(parameter) not in self.parameters:
                    grad = parameter.grad
                    self.parameters[id(parameter)] = (
                        parameter,
                        grad,
                        None if grad is None else grad.detach().clone(),
                        parameter.requires_grad,
                    )

    def restore(self) -> None:
        for attributes, parameters, buffers, children in self.modules:
            attributes.restore()
            parameters.restore()
            buffers.restore()
            children.restore()
        with torch.no_grad():
            for original, clone in self.tensors.values():
                _copy_into(original, clone)
            for parameter, grad, grad_clone, requires_grad in self.parameters.values():
                if grad is None or grad_clone is None:
                    parameter.grad = None
                else:
                    if parameter.grad is not grad:
                        parameter.grad = grad
                    _copy_into(grad, grad_clone)
                if parameter.requires_grad != requires_grad and parameter.is_leaf:
                    parameter.requires_grad_(requires_grad)


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
        self.tree = _TensorTree([item for item in containers if item is not None])

    def restore(self) -> None:
        for attributes in self.attributes:
            attributes.restore()
        self.tree.restore()
