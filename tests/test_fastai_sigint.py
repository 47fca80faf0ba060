"""A sweep in a background thread survives SIGINT sent to its DataLoader worker processes.

In Jupyter the kernel's interrupt button sends SIGINT to the kernel's whole process group,
DataLoader workers included.  Workers forked from the sweeping thread while SIGINT is not
blocked there inherit Python's SIGINT handler and die, and the sweep then fails with
"DataLoader worker (pid(s) …) exited unexpectedly".  ``run_sweep`` blocks SIGINT in the
sweeping thread (not the main thread), so the workers it forks inherit the blocked signal.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.optimizer import Adam
from fastai.torch_core import set_seed
from torch import nn
from torch.utils.data import TensorDataset

from lrwidget._fastai import run_sweep
from lrwidget.sweep import Sweep
from tests.support.learners import assert_unchanged, user_state, warm_up

pytestmark = [
    pytest.mark.fastai,
    pytest.mark.skipif(
        not hasattr(signal, "pthread_sigmask"),
        reason="signal.pthread_sigmask does not exist on this platform, so run_sweep cannot "
        "block SIGINT in its thread (and DataLoader workers are not forked there)",
    ),
]

NUM_IT = 20
SIGINT_BIT = 1 << (signal.SIGINT - 1)  # as /proc/<pid>/status writes signal sets


def worker_learner(path: Path) -> Learner:
    """Three Gaussian blobs, an MLP and Adam, read by two DataLoader worker processes each
    epoch; 10 batches per epoch."""
    set_seed(0)
    centres = torch.randn(3, 20) * 2.0
    labels = torch.randint(0, 3, (384,))
    features = centres[labels] + torch.randn(384, 20)
    train = DataLoader(
        TensorDataset(features[:320], labels[:320]),
        bs=32,
        shuffle=True,
        drop_last=True,
        num_workers=2,
    )
    valid = DataLoader(TensorDataset(features[320:], labels[320:]), bs=32, num_workers=2)
    model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 3))
    return Learner(
        DataLoaders(train, valid), model, loss_func=CrossEntropyLossFlat(), opt_func=Adam, path=path
    )


def _pending_signals(pid: int) -> int | None:
    """The signals pending for process ``pid`` (its own and its threads'), or None once it
    has exited."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            lines = dict(line.split(":", 1) for line in status if ":" in line)
    except FileNotFoundError:
        return None
    if lines.get("State", "").strip().startswith("Z"):
        return None  # exited, not yet reaped
    return int(lines["SigPnd"], 16) | int(lines["ShdPnd"], 16)


def _wait_until_dead_or_pending(workers: list[multiprocessing.process.BaseProcess]) -> None:
    """Each worker has either died of the SIGINT or holds it pending (blocked)."""
    deadline = time.monotonic() + 30  # bounds a hang only; never decides the outcome
    for worker in workers:
        assert worker.pid is not None
        while time.monotonic() < deadline:
            pending = _pending_signals(worker.pid)
            if pending is None or pending & SIGINT_BIT:
                break
            time.sleep(0.01)


def _feeder_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "QueueFeederThread"}


def test_sigint_to_dataloader_workers_leaves_a_background_sweep_running(tmp_path: Path) -> None:
    learn = worker_learner(tmp_path)
    warm_up(learn)
    before = user_state(learn)
    children_before = set(multiprocessing.active_children())
    feeders_before = _feeder_threads()
    reached, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def on_batch(sweep: Sweep) -> None:
        if len(sweep) == 5:
            reached.set()
            release.wait(60)

    def sweep_in_background() -> None:
        try:
            outcome["sweep"] = run_sweep(learn, num_it=NUM_IT, on_batch=on_batch)
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    # Workers inherit the parent's SIGINT handler: Python's own, as in a kernel.
    previous_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    thread = threading.Thread(target=sweep_in_background, name="sweeper")
    try:
        thread.start()
        assert reached.wait(60)
        workers = [
            child for child in multiprocessing.active_children() if child not in children_before
        ]
        assert len(workers) == 2, workers
        for worker in workers:
            assert worker.pid is not None
            os.kill(worker.pid, signal.SIGINT)  # the workers only, never the process group
        _wait_until_dead_or_pending(workers)
    finally:
        release.set()
        thread.join(60)
        signal.signal(signal.SIGINT, previous_handler)

    assert "error" not in outcome, outcome
    sweep = outcome["sweep"]
    assert sweep.status == "done" and len(sweep) == NUM_IT and sweep.error is None
    assert_unchanged(before, learn)
    for child in set(multiprocessing.active_children()) - children_before:
        child.join(30)
    assert set(multiprocessing.active_children()) <= children_before
    for feeder in _feeder_threads() - feeders_before:
        feeder.join(30)
    assert not [feeder for feeder in _feeder_threads() - feeders_before if feeder.is_alive()]
