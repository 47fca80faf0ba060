"""Benchmark: lrwidget's in-memory snapshot + restore vs fastai's save/load round trip.

fastai's ``LRFinder`` saves model and optimizer to ``models/<tmp>/_tmp.pth`` before a sweep
and loads them back after; lrwidget clones into memory instead (and restores more: grads,
recorder, callbacks, RNGs...).  Runs are paired (A B A B ...) so drift hits both sides.

    .venv/bin/python -m benchmarks.bench_restore [--pairs 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from torch import nn
from torch.utils.data import TensorDataset

from benchmarks._common import verdict
from lrwidget._snapshot import snapshot
from tests.support.learners import digits_learner


def wide_mlp_learner(path: Path) -> Learner:
    """784-700-140-10 MLP: 648,990 parameters, Adam."""
    torch.manual_seed(0)
    x, y = torch.randn(256, 784), torch.randint(0, 10, (256,))
    dls = DataLoaders(
        DataLoader(TensorDataset(x, y), bs=64, shuffle=True), DataLoader(TensorDataset(x, y), bs=64)
    )
    model = nn.Sequential(
        nn.Linear(784, 700), nn.ReLU(), nn.Linear(700, 140), nn.ReLU(), nn.Linear(140, 10)
    )
    return Learner(dls, model, loss_func=CrossEntropyLossFlat(), path=path)


def warm(learn: Learner) -> None:
    """Train one epoch so the optimizer holds state (Adam: two tensors per parameter)."""
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, lr=1e-3)


def time_once(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=30)
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name, build in (
            ("digits MLP", lambda: digits_learner(0, root)),
            ("650k MLP", lambda: wide_mlp_learner(root)),
        ):
            learn = build()
            warm(learn)
            (learn.path / learn.model_dir / "bench").mkdir(parents=True, exist_ok=True)
            parameters = sum(p.numel() for p in learn.model.parameters())

            def ours(learn: Learner = learn) -> None:
                snapshot(learn)()

            def fastai(learn: Learner = learn) -> None:
                learn.save("bench/_tmp", with_opt=True)
                learn.load("bench/_tmp", with_opt=True)

            for _ in range(3):  # warm both paths
                ours()
                fastai()
            times: dict[str, list[float]] = {"lrwidget": [], "fastai": []}
            for _ in range(arguments.pairs):
                times["lrwidget"].append(time_once(ours))
                times["fastai"].append(time_once(fastai))
            rows.append((name, parameters, times))

    print(
        f"{'model':<12} {'params':>8} {'method':<9} {'median ms':>9} {'min ms':>8} "
        f"{'max ms':>8} {'ratio':>6}"
    )
    for name, parameters, times in rows:
        fastai_median = statistics.median(times["fastai"])
        for method in ("lrwidget", "fastai"):
            values = times[method]
            median = statistics.median(values)
            print(
                f"{name:<12} {parameters:>8} {method:<9} {median * 1e3:>9.3f} "
                f"{min(values) * 1e3:>8.3f} {max(values) * 1e3:>8.3f} "
                f"{median / fastai_median:>6.2f}"
            )
    print(
        f"(paired A B runs: {arguments.pairs} pairs; ratio = median / fastai's median; "
        f"torch threads = 1)"
    )
    for name, _parameters, times in rows:
        ratio = statistics.median(times["lrwidget"]) / statistics.median(times["fastai"])
        verdict(
            "B4",
            f"snapshot + restore <= 0.5x fastai's save/load ({name})",
            ratio <= 0.5,
            f"{ratio:.2f}x",
        )


if __name__ == "__main__":
    main()
