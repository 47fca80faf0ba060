"""Tiny plain-PyTorch models, optimizers and loaders on scikit-learn's 8x8 digits.

Every builder seeds torch's generator with ``seed`` first, so two calls with the same seed
build identical cases (same weights, same shuffling, same dropout masks) and sweep identically
on the CPU: one for torch-lr-finder, one for lrwidget.  Nothing is downloaded (the digits ship
with scikit-learn).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

# Tiny models gain nothing from intra-op threads; on a shared 2-CPU runner they only spin.
torch.set_num_threads(1)

MODELS = ("mlp", "cnn", "dropout")


@dataclass
class Case:
    """What ``range_test`` and ``run_torch_sweep`` take."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    criterion: Callable[..., torch.Tensor]
    train_loader: DataLoader[Any]
    val_loader: DataLoader[Any]


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)


def _network(name: str) -> nn.Module:
    if name == "mlp":
        return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    if name == "cnn":  # BatchNorm: running statistics are buffers the sweep changes
        return nn.Sequential(
            nn.Unflatten(1, (1, 8, 8)),
            nn.Conv2d(1, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(6 * 4 * 4, 10),
        )
    if name == "dropout":  # Dropout: draws from torch's global generator every batch
        return nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Dropout(0.3), nn.Linear(48, 10))
    raise ValueError(f"unknown model {name!r}; known: {MODELS}")


def build(name: str, seed: int = 0, *, samples: int = 320, batch_size: int = 32) -> Case:
    """A case: ``samples`` training digits in shuffled batches, 96 validation digits."""
    torch.manual_seed(seed)
    x, y = _digits()
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y)
    train = TensorDataset(inputs[:samples], labels[:samples])
    valid = TensorDataset(inputs[-96:], labels[-96:])
    model = _network(name)
    if name == "mlp":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(
            model.parameters(), lr=1e-6, momentum=0.9
        )
    elif name == "cnn":
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-6)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6, weight_decay=0.05)
    return Case(
        model,
        optimizer,
        nn.CrossEntropyLoss(),
        DataLoader(train, batch_size=batch_size, shuffle=True),
        DataLoader(valid, batch_size=batch_size, shuffle=True),
    )
