"""The user's plain-PyTorch state, for tests that a sweep or trials give all of it back.

:func:`state_of` copies everything of the user's that a run may touch (tensors, gradients,
``requires_grad``, train/eval mode, the optimizer's state dict and attributes, the identity of
the objects, the global RNGs); :func:`same` compares two such copies exactly.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import numpy as np
import torch

from tests.support.torch_models import Case, build

__all__ = ["Boom", "raise_at", "same", "state_of", "used_case"]


def _clone(value: Any) -> Any:
    return value.detach().clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value)


def state_of(case: Case) -> dict[str, Any]:
    """Everything of the user's that a sweep or trials touch, copied, and the objects themselves."""
    model, optimizer = case.model, case.optimizer
    return {
        "tensors": {key: _clone(value) for key, value in model.state_dict().items()},
        "grads": [_clone(parameter.grad) for parameter in model.parameters()],
        "requires_grad": [parameter.requires_grad for parameter in model.parameters()],
        "training": [module.training for module in model.modules()],
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "optimizer_attributes": sorted(vars(optimizer)),
        "objects": (
            [id(parameter) for parameter in model.parameters()],
            [id(tensor) for state in optimizer.state.values() for tensor in state.values()],
            [id(group) for group in optimizer.param_groups],
        ),
        "random": (torch.get_rng_state(), copy.deepcopy(np.random.get_state()), random.getstate()),
    }


def same(left: Any, right: Any) -> bool:
    """Exact equality of two :func:`state_of` copies (tensors and arrays element-wise)."""
    if isinstance(left, torch.Tensor):
        return isinstance(right, torch.Tensor) and torch.equal(left, right)
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, np.ndarray):
        return bool(np.array_equal(left, right))
    return bool(left == right)


def used_case(name: str) -> Case:
    """A case whose optimizer has state and whose parameters have gradients (one step taken),
    left in eval mode: a run must give all of it back."""
    case = build(name, seed=7)
    inputs, labels = next(iter(case.train_loader))
    case.criterion(case.model(inputs), labels).backward()
    case.optimizer.step()
    case.model.eval()
    return case


class Boom(RuntimeError):
    """The error a test's hook raises."""


def raise_at(call: int, error: BaseException) -> Any:
    """A hook that raises ``error`` on its ``call``-th call (from 1)."""
    calls = {"count": 0}

    def hook(*_: Any) -> None:
        calls["count"] += 1
        if calls["count"] == call:
            raise error

    return hook
