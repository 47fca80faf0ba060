"""B8: wall time of ``run_torch_sweep`` vs torch-lr-finder's ``range_test`` (plus its reset).

Side by side, interleaved, on two plain-PyTorch cases built here (fresh and identically seeded
for every run; building the model, optimizer and loader is not timed):

* ``digits``: scikit-learn's 8x8 digits, a 64-32-10 MLP, SGD with momentum, batch 32;
* ``mlp650k``: synthetic 512-D inputs, a 512-1024-128-10 MLP (657,802 parameters), Adam,
  batch 64.

A: ``run_torch_sweep(model, optimizer, criterion, loader, start_lr=1e-7)``, which snapshots the
model, optimizer and RNGs in memory and restores them however it ends.  B: torch-lr-finder 0.2.2
doing the same job: ``LRFinder(model, optimizer, criterion)`` (which caches the model's and the
optimizer's state dicts in memory), ``range_test(loader, start_lr=1e-7)`` and ``reset()``, its
progress bar and prints sent to a string buffer.  Both sweep 100 iterations from 1e-7 to 10 with
``smooth_f=0.05`` and ``diverge_th=5``, so both stop at the same batch.  Target: median of the
per-pair ratios A/B <= 1.00.

    .venv/bin/python -m benchmarks.bench_torch [--pairs 9] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch_lr_finder import LRFinder

from benchmarks._common import banner, paired, print_table, ratios_of, summary, timed, verdict
from lrwidget import run_torch_sweep
from tests.support.torch_models import build

NUM_IT = 100
SEED = 42


def digits_case() -> Any:
    return build("mlp", seed=SEED, samples=1437, batch_size=32)


def mlp_case() -> Any:
    """512-D synthetic inputs, 512-1024-128-10 MLP (657,802 parameters), Adam, batch 64."""
    case = build("mlp", seed=SEED)
    generator = torch.Generator().manual_seed(SEED)
    inputs = torch.randn(2048, 512, generator=generator)
    labels = (inputs[:, :10].argmax(dim=1)).long()
    case.model = nn.Sequential(
        nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 128), nn.ReLU(), nn.Linear(128, 10)
    )
    case.optimizer = torch.optim.Adam(case.model.parameters(), lr=1e-7)
    case.train_loader = DataLoader(TensorDataset(inputs, labels), batch_size=64, shuffle=True)
    return case


def ours(case: Any) -> None:
    run_torch_sweep(
        case.model, case.optimizer, case.criterion, case.train_loader, start_lr=1e-7, num_it=NUM_IT
    )


def theirs(case: Any) -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        finder = LRFinder(case.model, case.optimizer, case.criterion)
        finder.range_test(case.train_loader, start_lr=1e-7, num_iter=NUM_IT)
        finder.reset()


def measure(name: str, build_case: Callable[[], Any], pairs: int) -> float:
    print(f"\n{name}: {pairs} pairs", flush=True)
    times = paired(
        {"lrwidget": timed(build_case, ours), "torch-lr-finder": timed(build_case, theirs)},
        pairs=pairs,
    )
    ratios = ratios_of(times["lrwidget"], times["torch-lr-finder"])
    rows = []
    for label, values in (
        ("run_torch_sweep (s)", times["lrwidget"]),
        ("LRFinder + range_test + reset (s)", times["torch-lr-finder"]),
        ("ratio", ratios),
    ):
        rows.append([label, *summary(values).format()])
    print_table(f"B8 {name}", ["", "median", "min", "max"], rows)
    return summary(ratios).median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    banner("B8 run_torch_sweep vs torch-lr-finder range_test + reset")
    medians = {
        "digits": measure("digits", digits_case, arguments.pairs),
        "mlp650k": measure("mlp650k", mlp_case, arguments.pairs),
    }
    figure = ", ".join(f"{name} {median:.2f}x" for name, median in medians.items())
    verdict("B8", "run_torch_sweep / torch-lr-finder <= 1.00", max(medians.values()) <= 1.0, figure)


if __name__ == "__main__":
    main()
