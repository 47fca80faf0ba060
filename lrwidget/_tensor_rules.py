"""Adapter: calling rules written for torch tensors, such as fastai's own.

fastai's ``minimum``, ``steep``, ``valley`` and ``slide`` index and call tensor methods
(``.log()``, ``.item()``, ``.argmin()``), so ``analyze`` hands them tensors.  The numpy core
imports this module only when torch is already loaded (a tensor rule cannot exist otherwise),
so the core itself never imports torch.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch


def wants_tensors(rule: Any) -> bool:
    """True for a rule defined in fastai (it expects tensors, not arrays)."""
    target = rule.func if isinstance(rule, functools.partial) else rule
    module = str(getattr(target, "__module__", "") or "")
    return module == "fastai" or module.startswith("fastai.")


def call_rule(rule: Any, lrs: np.ndarray, losses: np.ndarray, num_it: int) -> Any:
    """``rule(lrs, losses, num_it)``, with float32 tensors where the rule wants them."""
    if wants_tensors(rule):
        return rule(torch.from_numpy(lrs.copy()), torch.from_numpy(losses.copy()), num_it)
    return rule(lrs, losses, num_it)
