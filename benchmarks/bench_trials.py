"""B7: one-cycle trials, ``run_trials`` vs plain ``fit_one_cycle`` runs: time and peak memory.

Time.  A: ``run_trials(learn, lrs)`` on a fresh Learner (k learning rates, one epoch each;
snapshot, guards, restore after each trial and the per-batch recording included).  B: the same
k trials the plain way, ``fit_one_cycle(1, lr)`` on a fresh, identically built Learner per
learning rate, progress bar and logging off as in A.  Building Learners is not timed.  Pairs
run interleaved (A B, then B A, ...); target: median of the per-pair ratios A/B <= 1.05.  Two
models: the digits MLP (2,410 parameters) and a 512-1024-128-10 MLP (657,802 parameters).

Memory.  Each measurement runs in its own interpreter (peak RSS is per process), as
``bench_memory`` does: import everything, build a 784-2048-1024-10 MLP Learner (3.7 M
parameters, Adam), run one tiny fit on another Learner so both sides start with the same code
paged in, collect garbage, take the RSS as baseline and reset the peak there
(``/proc/self/clear_refs``).  Then ``trials``: ``run_trials`` on k learning rates; or
``sweep``: the headless ``run_sweep`` over as many batches.  Added peak = VmHWM - baseline.
Target: trials' added peak <= the sweep's + one copy of the model's parameters and buffers.

    .venv/bin/python -m benchmarks.bench_trials [--pairs 7] [--memory-pairs 2] [--k 4]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.optimizer import Adam
from fastai.torch_core import set_seed
from torch import nn
from torch.utils.data import TensorDataset

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
TIME_TARGET = 1.05
LRS = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)


def _mlp_learner(path: Path, sizes: tuple[int, ...], rows: int, batch_size: int = 64) -> Learner:
    """Synthetic inputs labelled by a random linear teacher, an MLP of ``sizes``, Adam."""
    set_seed(42)
    x = torch.randn(rows, sizes[0])
    y = (x @ torch.randn(sizes[0], sizes[-1])).argmax(dim=1)
    split = rows * 7 // 8
    train = DataLoader(
        TensorDataset(x[:split], y[:split]), bs=batch_size, shuffle=True, drop_last=True
    )
    valid = DataLoader(TensorDataset(x[split:], y[split:]), bs=batch_size)
    layers: list[nn.Module] = []
    for inputs, outputs in itertools.pairwise(sizes):
        layers += [nn.Linear(inputs, outputs), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    return Learner(
        DataLoaders(train, valid), model, loss_func=CrossEntropyLossFlat(), opt_func=Adam, path=path
    )


def digits(path: Path) -> Learner:
    """The tests' digits MLP (2,410 parameters); 22 batches per epoch."""
    from tests.support.learners import digits_learner

    return digits_learner(42, path)


def mlp650k(path: Path) -> Learner:
    """512-1024-128-10 (657,802 parameters); 56 batches per epoch."""
    return _mlp_learner(path, (512, 1024, 128, 10), rows=4096)


def mlp3m(path: Path) -> Learner:
    """784-2048-1024-10 (3,716,106 parameters, 14.2 MiB); 14 batches per epoch."""
    return _mlp_learner(path, (784, 2048, 1024, 10), rows=1024)


# --- time ------------------------------------------------------------------------------------


def time_pairs(build: Callable[[Path], Learner], lrs: tuple[float, ...], pairs: int) -> list[float]:
    """Per-pair ratios: run_trials on k lrs / k plain fit_one_cycle runs."""
    from benchmarks._common import paired, ratios_of
    from lrwidget import run_trials

    with tempfile.TemporaryDirectory(prefix="lrwidget-bench-") as directory:
        path = Path(directory)

        def trials() -> float:
            learn = build(path)
            start = time.perf_counter()
            outcome = run_trials(learn, lrs)
            elapsed = time.perf_counter() - start
            if any(trial.status != "done" for trial in outcome):
                raise RuntimeError(f"a trial did not finish: {outcome}")
            return elapsed

        def plain() -> float:
            elapsed = 0.0
            for lr in lrs:
                learn = build(path)
                start = time.perf_counter()
                with learn.no_bar(), learn.no_logging():
                    learn.fit_one_cycle(1, lr)
                elapsed += time.perf_counter() - start
            return elapsed

        times = paired({"run_trials": trials, "fit_one_cycle": plain}, pairs=pairs, warmup=1)
    return ratios_of(times["run_trials"], times["fit_one_cycle"])


# --- memory (one process per measurement) ------------------------------------------------------


def child(mode: str, k: int) -> None:
    """Measure one run in this process and print one JSON line."""
    from benchmarks._common import peak_rss_bytes, reset_peak_rss, rss_bytes
    from lrwidget import run_sweep, run_trials

    with tempfile.TemporaryDirectory(prefix="lrwidget-bench-") as directory:
        path = Path(directory)
        warm = digits(path)  # page in the same code on both sides
        with warm.no_bar(), warm.no_logging():
            warm.fit_one_cycle(1, 1e-3)
        del warm
        learn = mlp3m(path)
        batches = k * len(learn.dls.train)
        model_bytes = sum(
            tensor.numel() * tensor.element_size()
            for tensor in (*learn.model.parameters(), *learn.model.buffers())
        )
        gc.collect()
        baseline = rss_bytes()
        if not reset_peak_rss():
            raise OSError("cannot reset the peak RSS (/proc/self/clear_refs is not writable)")
        start = time.perf_counter()
        if mode == "trials":
            statuses = [trial.status for trial in run_trials(learn, LRS[:k])]
        elif mode == "sweep":
            statuses = [run_sweep(learn, 1e-7, 1e-1, batches, stop_div=False).status]
        else:
            raise ValueError(f"mode must be trials or sweep; got {mode!r}")
        seconds = time.perf_counter() - start
        peak = peak_rss_bytes()
    result = {
        "mode": mode,
        "statuses": statuses,
        "batches": batches,
        "seconds": seconds,
        "added_peak_mib": (peak - baseline) / MIB,
        "model_mib": model_bytes / MIB,
    }
    print(json.dumps(result), flush=True)


def measure_memory(k: int, pairs: int) -> dict[str, list[dict[str, Any]]]:
    """``pairs`` pairs of child processes (the two of a pair run at the same time)."""
    results: dict[str, list[dict[str, Any]]] = {"trials": [], "sweep": []}
    for pair in range(pairs):
        order = ["trials", "sweep"] if pair % 2 == 0 else ["sweep", "trials"]
        running = [
            (
                mode,
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.bench_trials",
                        "--child",
                        mode,
                        "--k",
                        str(k),
                    ],
                    cwd=REPO,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
            for mode in order
        ]
        for mode, process in running:
            out, err = process.communicate()
            if process.returncode != 0:
                sys.stderr.write(err)
                raise RuntimeError(f"the {mode} measurement failed (exit {process.returncode})")
            results[mode].append(json.loads(out.strip().splitlines()[-1]))
        print(
            "  pair {}: trials +{:.1f} MiB ({:.1f} s), sweep +{:.1f} MiB ({:.1f} s)".format(
                pair + 1,
                results["trials"][-1]["added_peak_mib"],
                results["trials"][-1]["seconds"],
                results["sweep"][-1]["added_peak_mib"],
                results["sweep"][-1]["seconds"],
            ),
            flush=True,
        )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=7, help="timed A/B pairs per model")
    parser.add_argument("--memory-pairs", type=int, default=2, help="memory process pairs")
    parser.add_argument("--k", type=int, default=4, help="learning rates per run (<= 6)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    torch.set_num_threads(1)  # tiny models gain nothing from threads; spin-waits add noise
    warnings.filterwarnings("ignore", category=FutureWarning)
    if arguments.child:
        child(arguments.child, arguments.k)
        return 0

    from benchmarks._common import banner, print_table, summary, verdict

    k = arguments.k
    banner(f"B7 one-cycle trials: run_trials on {k} learning rates vs {k} fit_one_cycle runs")
    rows, ratios = [], {}
    for name, build in (("digits", digits), ("mlp650k", mlp650k)):
        print(f"{name}: A=run_trials, B={k} x fit_one_cycle on fresh Learners", flush=True)
        ratios[name] = summary(time_pairs(build, LRS[:k], arguments.pairs))
        rows.append([f"{name}: time ratio A/B", *ratios[name].format("{:.3f}x".format)])
    print(f"memory: 784-2048-1024-10 MLP, trials on {k} lrs vs a sweep over as many batches")
    memory = measure_memory(k, arguments.memory_pairs)
    added = {
        mode: summary([run["added_peak_mib"] for run in runs]) for mode, runs in memory.items()
    }
    model_mib = memory["trials"][0]["model_mib"]
    for mode in ("trials", "sweep"):
        rows.append([f"{mode}: added peak RSS (MiB)", *added[mode].format("{:.1f}".format)])
    rows.append(["one model copy (MiB)", f"{model_mib:.1f}", "", ""])
    print_table(
        f"B7: median/min/max ({arguments.pairs} timed pairs, "
        f"{arguments.memory_pairs} memory pairs)",
        ["measure", "median", "min", "max"],
        rows,
    )
    for name, ratio in ratios.items():
        verdict(
            "B7",
            f"run_trials / {k} x fit_one_cycle <= {TIME_TARGET} ({name})",
            ratio.median <= TIME_TARGET,
            f"median {ratio.median:.3f}x, min {ratio.minimum:.3f}x, max {ratio.maximum:.3f}x",
        )
    limit = added["sweep"].median + model_mib
    verdict(
        "B7",
        "trials' added peak RSS <= headless sweep's + one model copy",
        added["trials"].median <= limit,
        f"+{added['trials'].median:.1f} MiB vs +{added['sweep'].median:.1f} + "
        f"{model_mib:.1f} = {limit:.1f} MiB (medians)",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
