"""B6: peak memory a sweep streaming to a widget adds over the same sweep headless.

Each measurement runs in its own subprocess, which imports everything (torch, fastai,
ipywidgets, bqplot, lrwidget), builds a tiny Learner (a 4-to-1 linear model, batch 2, one
epoch of 10,240 batches) and analyses a small recorded sweep once (so both sides start with
the same code paged in: torch's ``log``, used by ``steep``, brings in about 1 MiB of it).
Then:

* ``streaming``: ``LRFinderWidget(learn, ...)`` is built (reported apart: a user builds and
  shows the widget before pressing Run), then the baseline is taken and ``run()`` sweeps with
  a recording comm that serialises every message (as a kernel would) and keeps nothing, as a
  kernel keeps nothing; ``run()`` returns the suggestions, and the final update is awaited;
* ``headless``: the baseline, then ``analyze(run_sweep(learn, ...))`` in the calling thread:
  the same sweep and the same suggestions, without a widget.

Baseline: after a garbage collection, the RSS; the peak is reset there
(``/proc/self/clear_refs``, so VmHWM restarts from the baseline).  Added peak = VmHWM -
baseline.  The ratio with the widget's construction added to the streaming side is printed
too.  The two processes of a pair run at the same time (peak RSS
is per process; ``--sequential`` runs them one at a time), pairs one after the other; the
targets are absolute: streaming adds at most 4 MiB over headless for a 100-iteration sweep
and 8 MiB for a 10,000-iteration one (median of the per-pair differences).  With ``--diagnose``
a third variant, ``headless-thread`` (``run_sweep`` in a worker thread, as the widget runs
it), is reported for diagnosis only.

    .venv/bin/python -m benchmarks.bench_memory [--pairs 2] [--num-it 100 10000] [--diagnose]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
START_LR, END_LR = 1e-7, 1e-1  # stays finite for 10,000 iterations without stop_div
#: Iterations -> the most MiB of peak RSS streaming may add over the headless sweep.  A ratio
#: on a ~20 MiB baseline measured the allocator rather than the widget; these are absolute.
TARGETS = {100: 4.0, 10_000: 8.0}


def _tiny_learner(path: Path) -> Any:
    import torch
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.losses import MSELossFlat
    from fastai.optimizer import SGD
    from fastai.torch_core import set_seed
    from torch import nn
    from torch.utils.data import TensorDataset

    set_seed(0)
    x = torch.randn(20480, 4)
    y = x @ torch.randn(4, 1) + 0.1 * torch.randn(20480, 1)
    train = DataLoader(TensorDataset(x, y), bs=2, shuffle=True, drop_last=True)
    valid = DataLoader(TensorDataset(x[:64], y[:64]), bs=2)
    return Learner(
        DataLoaders(train, valid), nn.Linear(4, 1), loss_func=MSELossFlat(), opt_func=SGD, path=path
    )


def child(mode: str, num_it: int) -> None:
    """Measure one sweep in this process and print one JSON line."""
    import numpy as np
    import torch

    import lrwidget.widget  # ipywidgets and bqplot are imported before the baseline
    from benchmarks._common import frames_sent, peak_rss_bytes, reset_peak_rss, rss_bytes
    from lrwidget import Sweep, analyze
    from lrwidget._fastai import run_sweep
    from tests.support.comm import CommRecorder

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=FutureWarning)
    recorder = CommRecorder(encode=True, keep=False)
    with tempfile.TemporaryDirectory(prefix="lrwidget-bench-") as directory:
        learn = _tiny_learner(Path(directory))
        warm_up = np.geomspace(START_LR, END_LR, 4_000, endpoint=False)
        analyze(Sweep.from_arrays(warm_up, np.linspace(2.0, 1.0, 4_000), num_it=4_000))
        extra: dict[str, Any] = {}
        widget = None
        if mode == "streaming":
            gc.collect()
            before_build = rss_bytes()
            with recorder.installed():
                widget = lrwidget.widget.LRFinderWidget(
                    learn, START_LR, END_LR, num_it, stop_div=False
                )
            gc.collect()
            extra["built_mib"] = (rss_bytes() - before_build) / MIB
        gc.collect()
        baseline = rss_bytes()
        if not reset_peak_rss():
            raise OSError("cannot reset the peak RSS (/proc/self/clear_refs is not writable)")
        start = time.perf_counter()
        if mode == "headless":
            sweep = run_sweep(learn, START_LR, END_LR, num_it, stop_div=False)
            analyze(sweep)
        elif mode == "headless-thread":
            box: list[Any] = []
            worker = threading.Thread(
                target=lambda: box.append(run_sweep(learn, START_LR, END_LR, num_it, False))
            )
            worker.start()
            worker.join()
            sweep = box[0]
            analyze(sweep)
        elif mode == "streaming":
            assert widget is not None
            with recorder.installed():
                widget.run()
                widget.wait(10, chart=True)
            sweep = widget.sweep
            extra |= {
                "frames": frames_sent(widget),
                "messages": recorder.count,
                "mib_sent": recorder.total_bytes / MIB,
            }
        else:
            raise ValueError(f"mode must be headless, headless-thread or streaming; got {mode!r}")
        seconds = time.perf_counter() - start
        peak = peak_rss_bytes()
        gc.collect()
        after = rss_bytes()
    print(
        json.dumps(
            {
                "mode": mode,
                "points": len(sweep),
                "status": sweep.status,
                "seconds": seconds,
                "baseline_mib": baseline / MIB,
                "added_peak_mib": (peak - baseline) / MIB,
                "retained_mib": (after - baseline) / MIB,
                **extra,
            }
        ),
        flush=True,
    )


def start(mode: str, num_it: int) -> subprocess.Popen[str]:
    """Start :func:`child` in a fresh interpreter (this module, from the repository root)."""
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_memory", "--child", mode, "--num-it", str(num_it)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def collect(mode: str, process: subprocess.Popen[str]) -> dict[str, Any]:
    """Wait for a child started by :func:`start`; its JSON line."""
    out, err = process.communicate()
    if process.returncode != 0:
        sys.stderr.write(err)
        raise RuntimeError(f"the {mode} measurement failed (exit {process.returncode})")
    return dict(json.loads(out.strip().splitlines()[-1]))


def measure(num_it: int, pairs: int, modes: list[str], sequential: bool) -> dict[str, list]:
    """``pairs`` measurements of each mode (alternating order), printed as they come."""
    results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    for pair in range(pairs):
        order = modes if pair % 2 == 0 else [modes[1], modes[0], *modes[2:]]
        if sequential:
            for mode in order:
                results[mode].append(collect(mode, start(mode, num_it)))
        else:
            # Peak RSS is per process: the two sides of a pair may share the clock.
            running = [(mode, start(mode, num_it)) for mode in order]
            for mode, process in running:
                results[mode].append(collect(mode, process))
        cells = ", ".join(
            f"{mode} +{results[mode][-1]['added_peak_mib']:.1f} MiB "
            f"({results[mode][-1]['seconds']:.1f} s)"
            for mode in modes
        )
        print(f"  pair {pair + 1}: {cells}", flush=True)
    return results


def report(num_it: int, results: dict[str, list], pairs: int) -> None:
    """The table and the verdict: streaming adds at most TARGETS[num_it] MiB over headless."""
    from benchmarks._common import print_table, summary, verdict

    rows = []
    for mode, runs in results.items():
        for label, key, form in (
            ("added peak RSS (MiB)", "added_peak_mib", "{:.1f}"),
            ("retained after (MiB)", "retained_mib", "{:.1f}"),
            ("baseline RSS (MiB)", "baseline_mib", "{:.0f}"),
            ("sweep time (s)", "seconds", "{:.1f}"),
        ):
            rows.append([f"{mode}: {label}", *summary([r[key] for r in runs]).format(form.format)])
    streaming, headless = results["streaming"], results["headless"]
    rows.append(
        [
            "streaming: building the widget, before the baseline (MiB)",
            *summary([run["built_mib"] for run in streaming]).format("{:.1f}".format),
        ]
    )
    rows.append(
        [
            "streaming: frames / messages / MiB sent",
            f"{summary([run['frames'] for run in streaming]).median:.0f} / "
            f"{summary([run['messages'] for run in streaming]).median:.0f} / "
            f"{summary([run['mib_sent'] for run in streaming]).median:.1f}",
            "",
            "",
        ]
    )
    pairs_of = zip(streaming, headless, strict=True)
    extra = summary([s["added_peak_mib"] - h["added_peak_mib"] for s, h in pairs_of])
    rows.append(["streaming - headless (MiB)", *extra.format("{:+.1f}".format)])
    print_table(
        f"B6: memory of a {num_it:,}-iteration sweep, median/min/max over {pairs} pairs",
        ["measure", "median", "min", "max"],
        rows,
    )
    target = TARGETS.get(num_it)
    if target is None:
        print(f"  (no target for {num_it:,} iterations)")
        return
    verdict(
        "B6",
        f"streaming a {num_it:,}-iteration sweep adds <= {target:g} MiB of peak RSS over headless",
        extra.median <= target,
        f"median {extra.median:+.1f} MiB (streaming +"
        f"{summary([r['added_peak_mib'] for r in streaming]).median:.1f}, headless +"
        f"{summary([r['added_peak_mib'] for r in headless]).median:.1f})",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=2, help="measured pairs")
    parser.add_argument(
        "--num-it", type=int, nargs="+", default=sorted(TARGETS), help="iterations per sweep"
    )
    parser.add_argument(
        "--diagnose", action="store_true", help="also measure run_sweep in a worker thread"
    )
    parser.add_argument(
        "--sequential", action="store_true", help="run the processes of a pair one at a time"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child, arguments.num_it[0])
        return 0

    from benchmarks._common import banner

    modes = ["streaming", "headless"] + (["headless-thread"] if arguments.diagnose else [])
    for num_it in arguments.num_it:
        banner(
            f"B6 peak RSS added by a {num_it:,}-iteration sweep: streaming vs headless "
            "(separate processes)"
        )
        results = measure(num_it, arguments.pairs, modes, arguments.sequential)
        report(num_it, results, arguments.pairs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
