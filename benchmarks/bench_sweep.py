"""B1: wall time of a full sweep with the widget streaming vs fastai's ``lr_find``.

Side by side, interleaved, on two models built here (fresh and identically seeded for every
run; building the Learner is not timed):

* ``digits``: scikit-learn's 8x8 digits, a 64-32-10 MLP with BatchNorm, Adam, batch 64;
* ``mlp650k``: synthetic 512-D inputs, a 512-1024-128-10 MLP (657,802 parameters), Adam,
  batch 64.

A: ``LRFinderWidget(learn).run()`` with a recording comm installed, so every update is really
serialised (JSON + binary buffers, as jupyter_client would) and "sent".  B: ``with
learn.no_bar(): learn.lr_find(show_plot=False)``.  Both sweep 100 iterations from 1e-7 to 10
with fastai's divergence stop.  Only ``run()`` / ``lr_find()`` is timed; the widget's
construction is reported apart.  ``run()`` returns when the sweep ends; the chart's final
update, which may follow by up to a second (the message budget), is awaited untimed before
the next run, and its messages are counted.  Target: median of the per-pair ratios A/B <= 1.00.

    .venv/bin/python -m benchmarks.bench_sweep [--pairs 9] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import fastai.callback.schedule  # noqa: F401  (attaches Learner.lr_find)
import torch
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.optimizer import Adam
from fastai.torch_core import set_seed
from torch import nn
from torch.utils.data import TensorDataset

from benchmarks._common import (
    banner,
    format_seconds,
    frames_sent,
    paired,
    print_table,
    ratios_of,
    summary,
    verdict,
)
from lrwidget.widget import LRFinderWidget
from tests.support.comm import CommRecorder

NUM_IT = 100
SEED = 42


def _loaders(x: torch.Tensor, y: torch.Tensor, split: int, batch_size: int) -> DataLoaders:
    train = DataLoader(
        TensorDataset(x[:split], y[:split]), bs=batch_size, shuffle=True, drop_last=True
    )
    valid = DataLoader(TensorDataset(x[split:], y[split:]), bs=batch_size)
    return DataLoaders(train, valid)


def digits_learner(path: Path) -> Learner:
    """The 8x8 digits, 64-32-10 MLP with BatchNorm (2,410 parameters); 22 batches/epoch."""
    from sklearn.datasets import load_digits

    set_seed(SEED)
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(x))
    dls = _loaders(x[order], y[order], split=1437, batch_size=64)
    model = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))
    return Learner(dls, model, loss_func=CrossEntropyLossFlat(), opt_func=Adam, path=path)


def mlp_learner(path: Path) -> Learner:
    """Synthetic 512-D data labelled by a random teacher, 512-1024-128-10 MLP (657,802
    parameters); 56 batches/epoch."""
    set_seed(SEED)
    x = torch.randn(4096, 512)
    y = (x @ torch.randn(512, 10)).argmax(dim=1)
    dls = _loaders(x, y, split=3584, batch_size=64)
    model = nn.Sequential(
        nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 128), nn.ReLU(), nn.Linear(128, 10)
    )
    return Learner(dls, model, loss_func=CrossEntropyLossFlat(), opt_func=Adam, path=path)


MODELS: dict[str, Callable[[Path], Learner]] = {"digits": digits_learner, "mlp650k": mlp_learner}


class Case:
    """The two runners of one model, and what they saw besides time."""

    def __init__(self, build: Callable[[Path], Learner], path: Path) -> None:
        self.build = build
        self.path = path
        self.construction: list[float] = []
        self.widget_points: list[int] = []
        self.fastai_points: list[int] = []
        self.frames: list[int] = []
        self.messages: list[int] = []
        self.kilobytes: list[float] = []

    def widget_run(self) -> float:
        learn = self.build(self.path)
        recorder = CommRecorder(encode=True, keep=False)
        with recorder.installed():
            start = time.perf_counter()
            widget = LRFinderWidget(learn, num_it=NUM_IT)
            self.construction.append(time.perf_counter() - start)
            before, bytes_before = recorder.count, recorder.total_bytes
            start = time.perf_counter()
            widget.run()
            elapsed = time.perf_counter() - start
            # run() returns when the sweep ends; the chart's final update may follow within
            # about a second (the message budget).  Not timed, but counted, and finished
            # before the next run starts.
            widget.wait(10, chart=True)
        sweep = widget.sweep
        self.widget_points.append(0 if sweep is None else len(sweep))
        self.frames.append(frames_sent(widget))
        self.messages.append(recorder.count - before)
        self.kilobytes.append((recorder.total_bytes - bytes_before) / 1024)
        widget.close()  # its comms (and traits) are released
        return elapsed

    def fastai_run(self) -> float:
        learn = self.build(self.path)
        start = time.perf_counter()
        with learn.no_bar():
            learn.lr_find(num_it=NUM_IT, show_plot=False)
        elapsed = time.perf_counter() - start
        self.fastai_points.append(len(learn.recorder.losses))
        return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=9, help="measured A/B pairs (>= 5)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (1: a tiny model gains nothing and spin-waits add noise)",
    )
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit deprecations
    banner(f"B1 sweep wall time: widget streaming vs lr_find, {NUM_IT} iterations")

    rows, verdicts = [], []
    with tempfile.TemporaryDirectory(prefix="lrwidget-bench-") as directory:
        for name, build in MODELS.items():
            parameters = sum(p.numel() for p in build(Path(directory)).model.parameters())
            print(f"{name}: {parameters:,} parameters; A=widget, B=lr_find", flush=True)
            case = Case(build, Path(directory))
            times = paired(
                {"widget": case.widget_run, "lr_find": case.fastai_run},
                pairs=arguments.pairs,
                warmup=arguments.warmup,
            )
            ratio = summary(ratios_of(times["widget"], times["lr_find"]))
            widget_time, fastai_time = summary(times["widget"]), summary(times["lr_find"])
            measured = slice(arguments.warmup, None)
            points = f"{summary(case.widget_points).median:.0f}/" + (
                f"{summary(case.fastai_points).median:.0f}"
            )
            rows.append([f"{name} widget run()", *widget_time.format(format_seconds), points])
            rows.append([f"{name} lr_find", *fastai_time.format(format_seconds), ""])
            rows.append([f"{name} ratio widget/lr_find", *ratio.format("{:.2f}x".format), ""])
            rows.append(
                [
                    f"{name} widget construction (untimed)",
                    *summary(case.construction[measured]).format(format_seconds),
                    "",
                ]
            )
            rows.append(
                [
                    f"{name} frames / comm messages / KiB per run",
                    f"{summary(case.frames[measured]).median:.0f} / "
                    f"{summary(case.messages[measured]).median:.0f} / "
                    f"{summary(case.kilobytes[measured]).median:.0f}",
                    "",
                    "",
                    "",
                ]
            )
            verdicts.append((name, ratio))

    print_table(
        f"B1: full sweep, median/min/max over {arguments.pairs} interleaved pairs",
        ["measure", "median", "min", "max", "points A/B"],
        rows,
    )
    for name, ratio in verdicts:
        verdict(
            "B1",
            f"widget sweep / lr_find <= 1.00 ({name})",
            ratio.median <= 1.00,
            f"median {ratio.median:.2f}x, min {ratio.minimum:.2f}x, max {ratio.maximum:.2f}x",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
