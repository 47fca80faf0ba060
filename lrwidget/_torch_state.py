"""An in-memory snapshot of a plain PyTorch model, its optimizer and the global RNGs.

:func:`snapshot` records, without writing any file:

* the model: every parameter and buffer (values, gradients, ``requires_grad``) and every
  module's attributes (``training`` included) and parameter, buffer and child tables;
* the optimizer: its attributes, its per-parameter ``state`` and every param group's
  hyper-parameters;
* the global random number generators: Python's, numpy's legacy one, torch's CPU one and, when
  CUDA is initialised, CUDA's.

It returns a function that puts all of it back.  Tensors are restored *in place* (the same
objects get their saved contents back), so the optimizer's references to the parameters and a
user's references to a layer or a state tensor stay valid.  A model moved to another device
during the sweep gets its tensors' saved storage back.  Imports torch, never fastai.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = ["snapshot"]

_MISSING = object()
_IMMUTABLE = (int, float, complex, bool, str, bytes, type(None), torch.dtype, torch.device)
#: id(tensor) -> (the tensor, a detached clone of its contents at snapshot time)
_Clones = dict[int, tuple[torch.Tensor, torch.Tensor]]
#: Captures a container the walk of :func:`_capture` does not know (fastai's ``L``): called
#: with the value and the capture of one item; returns the value's restorer, or None.
_Extra = Callable[[Any, Callable[[Any], Callable[[], Any]]], "Callable[[], Any] | None"]


def snapshot(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Callable[[], None]:
    """Record ``model``, ``optimizer`` and the global RNGs; return the function restoring them.

    Example:
        >>> restore = snapshot(model, optimizer)                # doctest: +SKIP
        >>> optimizer.step()                                    # doctest: +SKIP
        >>> restore()  # bit for bit as before                  # doctest: +SKIP
    """
    model_state = _ModelState(model)
    optimizer_state = _OptimizerState(optimizer)
    random_state = _RandomState()

    def restore() -> None:
        model_state.restore()
        optimizer_state.restore()
        random_state.restore()

    return restore


def _copy_into(target: torch.Tensor, saved: torch.Tensor) -> None:
    """Put ``saved``'s contents back into ``target`` (the same tensor object)."""
    with torch.no_grad():
        if (target.shape, target.dtype, target.device) == (saved.shape, saved.dtype, saved.device):
            target.copy_(saved)
        else:  # moved or reshaped during the sweep: take the saved storage back
            target.data = saved


class _Attributes:
    """A shallow copy of ``owner.__dict__``, put back key by key: added keys are deleted."""

    __slots__ = ("saved", "target")

    def __init__(self, owner: Any) -> None:
        self.target = owner.__dict__
        self.saved = dict(self.target)

    def restore(self) -> None:
        for key in [key for key in self.target if key not in self.saved]:
            del self.target[key]
        for key, value in self.saved.items():
            if self.target.get(key, _MISSING) is not value:
                self.target[key] = value


class _ModelState:
    """Module attributes and tables, parameters, buffers, gradients and ``requires_grad``."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.modules: list[tuple[_Attributes, list[tuple[dict[str, Any], dict[str, Any]]]]] = []
        self.tensors: _Clones = {}
        self.parameters: dict[int, tuple[torch.nn.Parameter, torch.Tensor | None, bool]] = {}
        self.gradients: _Clones = {}
        for module in model.modules():
            tables: list[dict[str, Any]] = [module._parameters, module._buffers, module._modules]
            self.modules.append((_Attributes(module), [(table, dict(table)) for table in tables]))
            for tensor in (*module._parameters.values(), *module._buffers.values()):
                if tensor is not None and id(tensor) not in self.tensors:
                    self.tensors[id(tensor)] = (tensor, tensor.detach().clone())
            for parameter in module._parameters.values():
                if parameter is None or id(parameter) in self.parameters:
                    continue
                grad = parameter.grad
                self.parameters[id(parameter)] = (parameter, grad, parameter.requires_grad)
                if grad is not None:
                    self.gradients[id(grad)] = (grad, grad.detach().clone())

    def restore(self) -> None:
        for attributes, tables in self.modules:
            attributes.restore()
            for table, saved in tables:
                table.clear()
                table.update(saved)
        for original, clone in (*self.tensors.values(), *self.gradients.values()):
            _copy_into(original, clone)
        for parameter, grad, requires_grad in self.parameters.values():
            if parameter.grad is not grad:
                parameter.grad = grad
            if parameter.requires_grad != requires_grad and parameter.is_leaf:
                parameter.requires_grad_(requires_grad)


def _keep(value: Any) -> Callable[[], Any]:
    return lambda: value


def _capture(value: Any, clones: _Clones, extra: _Extra | None = None) -> Callable[[], Any]:
    """Record ``value`` — a tensor, or dicts, lists and tuples nesting tensors (and what
    ``extra`` captures) — and return a function that rebuilds it: the same containers refilled
    with the same tensor objects (their contents are put back through ``clones``) and copies of
    the other leaves."""
    if isinstance(value, torch.Tensor):
        clones.setdefault(id(value), (value, value.detach().clone()))
        return _keep(value)
    if isinstance(value, _IMMUTABLE):
        return _keep(value)
    if extra is not None:
        restorer = extra(value, lambda item: _capture(item, clones, extra))
        if restorer is not None:
            return restorer
    if isinstance(value, dict):
        mapping = value
        # a param group's "params" is the list of the model's own parameters: keep it as is
        items = [
            (
                key,
                _keep(item)
                if isinstance(key, str) and key == "params"
                else _capture(item, clones, extra),
            )
            for key, item in mapping.items()
        ]

        def restore_dict() -> Any:
            mapping.clear()
            mapping.update((key, restore_item()) for key, restore_item in items)
            return mapping

        return restore_dict
    if isinstance(value, list):
        sequence = value
        elements = [_capture(item, clones, extra) for item in sequence]

        def restore_list() -> Any:
            sequence[:] = [restore_item() for restore_item in elements]
            return sequence

        return restore_list
    if type(value) is tuple:
        parts = [_capture(item, clones, extra) for item in value]
        return lambda: tuple(restore_part() for restore_part in parts)
    try:
        saved = copy.deepcopy(value)
    except Exception:  # not copyable: keep the object itself
        return _keep(value)
    return lambda: copy.deepcopy(saved)


class _TensorTree:
    """Containers of tensors (optimizer state, hyper-parameters), refilled in place."""

    def __init__(self, values: list[Any], extra: _Extra | None = None) -> None:
        self.clones: _Clones = {}
        self.restorers = [_capture(value, self.clones, extra) for value in values]

    def restore(self) -> None:
        for restore in self.restorers:
            restore()
        for original, clone in self.clones.values():
            _copy_into(original, clone)


class _OptimizerState:
    """The optimizer's attributes, its ``state`` and its ``param_groups`` (the same dicts and
    tensors, refilled)."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.attributes = _Attributes(optimizer)
        self.tree = _TensorTree([optimizer.state, optimizer.param_groups])

    def restore(self) -> None:
        self.attributes.restore()
        self.tree.restore()


class _RandomState:
    """Global generators: Python's ``random``, numpy's legacy one, torch CPU and CUDA."""

    def __init__(self) -> None:
        self.python = random.getstate()
        self.numpy = np.random.get_state()
        self.torch = torch.get_rng_state()
        self.cuda = (
            torch.cuda.get_rng_state_all()
            if torch.cuda.is_available() and torch.cuda.is_initialized()
            else None
        )

    def restore(self) -> None:
        random.setstate(self.python)
        np.random.set_state(self.numpy)
        torch.set_rng_state(self.torch)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
