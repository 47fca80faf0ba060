"""Seeded sweeps, for repeats: a seed fixes the data order and every random draw of the sweep,
different seeds give different orders, and the user's generators are left exactly as they were.

The data order is observed directly: a callback hashes the inputs of every training batch.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lrwidget import LRWidgetValueError, Sweep

BAD_SEEDS = [
    (-1, LRWidgetValueError),
    (2**32, LRWidgetValueError),
    (True, TypeError),
    (1.0, TypeError),
    ("3", TypeError),
]


def global_states() -> tuple[Any, ...]:
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def assert_same_global_states(before: tuple[Any, ...]) -> None:
    python, numpy_state, torch_state = global_states()
    assert python == before[0]
    for now, then in zip(numpy_state, before[1], strict=True):
        np.testing.assert_array_equal(now, then)
    assert torch.equal(torch_state, before[2])


# --- fastai -------------------------------------------------------------------------------------
def record_batch_hashes(learner: Any) -> list[str]:
    """Add a callback hashing each training batch's inputs; returns the list it fills (the
    restore after a sweep leaves it alone: it is mutated, never rebound)."""
    from fastai.callback.core import Callback

    hashes: list[str] = []

    class BatchInputs(Callback):
        def before_batch(self) -> None:
            if self.learn.training:
                data = self.learn.xb[0].detach().numpy().tobytes()
                hashes.append(hashlib.sha256(data).hexdigest())

    learner.add_cb(BatchInputs())
    learner.__dict__["batch_hashes"] = hashes
    return hashes


@pytest.fixture
def learn(tmp_path: Path) -> Any:
    """The digits Learner, recording the order of its training batches."""
    from tests.support.learners import digits_learner

    learner = digits_learner(0, tmp_path)
    record_batch_hashes(learner)
    return learner


def sweep_with_order(learn: Any, **options: Any) -> tuple[Sweep, list[str]]:
    from lrwidget._fastai import run_sweep

    hashes = learn.batch_hashes
    hashes.clear()
    sweep = run_sweep(learn, num_it=30, **options)
    return sweep, list(hashes)


@pytest.mark.fastai
def test_the_same_seed_gives_the_same_sweep(learn: Any) -> None:
    first, first_order = sweep_with_order(learn, seed=3)
    second, second_order = sweep_with_order(learn, seed=3)
    assert len(first_order) == 30 and first_order == second_order
    np.testing.assert_array_equal(first.losses, second.losses)
    np.testing.assert_array_equal(first.lrs, second.lrs)


@pytest.mark.fastai
def test_different_seeds_give_different_data_orders_and_losses(learn: Any) -> None:
    runs = [sweep_with_order(learn, seed=seed) for seed in (0, 1, 2)]
    first_batches = {order[0] for _, order in runs}
    assert len(first_batches) == 3
    for index, (sweep, _) in enumerate(runs):
        for other, _ in runs[index + 1 :]:
            assert not np.array_equal(sweep.losses, other.losses)


@pytest.mark.fastai
def test_a_seeded_sweep_is_a_plain_sweep_in_that_order(learn: Any, tmp_path: Path) -> None:
    """seed=s means: every global generator seeded with s, and the training DataLoader drawing
    its order from ``random.Random(s)`` — nothing else."""
    from tests.support.learners import digits_learner

    seeded, seeded_order = sweep_with_order(learn, seed=7)
    twin = digits_learner(0, tmp_path / "twin")  # built alike: same weights, same data
    record_batch_hashes(twin)
    before = global_states()
    try:
        random.seed(7)
        np.random.seed(7)
        torch.manual_seed(7)
        twin.dls.train.rng = random.Random(7)
        plain, plain_order = sweep_with_order(twin)
    finally:
        random.setstate(before[0])
        np.random.set_state(before[1])
        torch.set_rng_state(before[2])
    assert plain_order == seeded_order
    np.testing.assert_array_equal(plain.losses, seeded.losses)


@pytest.mark.fastai
@pytest.mark.parametrize("ending", ["done", "failed", "stopped"])
def test_the_learners_generators_are_left_as_they_were(learn: Any, ending: str) -> None:
    import threading

    from lrwidget._fastai import run_sweep
    from tests.support.learners import assert_unchanged, user_state

    before = user_state(learn)
    generators = global_states()
    loader_rng = learn.dls.train.rng
    loader_state = loader_rng.getstate()
    stop = threading.Event()

    def on_batch(sweep: Sweep) -> None:
        if len(sweep) == 4 and ending == "failed":
            raise RuntimeError("a user's callback failed")
        if len(sweep) == 4 and ending == "stopped":
            stop.set()

    try:
        sweep = run_sweep(learn, num_it=30, seed=11, on_batch=on_batch, stop=stop)
    except RuntimeError as error:
        sweep = error.lrwidget_sweep  # type: ignore[attr-defined]
    assert sweep.status == ending
    assert learn.dls.train.rng is loader_rng
    assert loader_rng.getstate() == loader_state
    assert_same_global_states(generators)
    assert_unchanged(before, learn)


@pytest.mark.fastai
@pytest.mark.parametrize(("seed", "error"), BAD_SEEDS)
def test_bad_seeds_are_refused_before_any_batch(learn: Any, seed: object, error: type) -> None:
    from lrwidget._fastai import run_sweep

    with pytest.raises(error, match=r"seed must be None or an integer from 0 to 4,294,967,295"):
        run_sweep(learn, num_it=30, seed=seed)  # type: ignore[arg-type]
    assert learn.batch_hashes == []


# --- plain PyTorch ------------------------------------------------------------------------------
def torch_sweep(case: Any, **options: Any) -> tuple[Sweep, list[str]]:
    """A short sweep on ``case``, with the hash of every training batch's inputs."""
    from lrwidget._torch import run_torch_sweep

    hashes: list[str] = []
    handle = case.model.register_forward_pre_hook(
        lambda _module, inputs: hashes.append(
            hashlib.sha256(inputs[0].numpy().tobytes()).hexdigest()
        )
    )
    try:
        sweep = run_torch_sweep(
            case.model, case.optimizer, case.criterion, case.train_loader, num_it=12, **options
        )
    finally:
        handle.remove()
    return sweep, hashes


@pytest.mark.parametrize("own_generator", [False, True])
def test_torch_seeds_fix_the_order_and_leave_the_generators_alone(own_generator: bool) -> None:
    from torch.utils.data import DataLoader

    from tests.support.torch_models import build

    case = build("dropout", 0)
    generator = None
    if own_generator:  # the loader shuffles from its own generator, not torch's global one
        generator = torch.Generator().manual_seed(123)
        loader = case.train_loader
        case.train_loader = DataLoader(
            loader.dataset, batch_size=loader.batch_size, shuffle=True, generator=generator
        )
    generator_state = None if generator is None else generator.get_state()
    before = global_states()
    first, first_order = torch_sweep(case, seed=3)
    second, second_order = torch_sweep(case, seed=3)
    other, other_order = torch_sweep(case, seed=4)
    assert first_order == second_order and first_order[0] != other_order[0]
    np.testing.assert_array_equal(first.losses, second.losses)
    assert not np.array_equal(first.losses, other.losses)
    assert_same_global_states(before)
    if generator is not None and generator_state is not None:
        assert torch.equal(generator.get_state(), generator_state)


@pytest.mark.parametrize(("seed", "error"), BAD_SEEDS)
def test_torch_bad_seeds_are_refused_before_any_batch(seed: object, error: type) -> None:
    from tests.support.torch_models import build

    case = build("mlp", 0)
    with pytest.raises(error, match=r"seed must be None or an integer"):
        torch_sweep(case, seed=seed)


def test_the_torch_engine_passes_the_seed_on() -> None:
    from lrwidget._torch import TorchEngine
    from tests.support.torch_models import build

    case = build("mlp", 0)
    engine = TorchEngine(case.optimizer, case.criterion, case.train_loader, None)
    sweep = engine.run_sweep(case.model, 1e-6, 10.0, 6, True, seed=9)
    assert sweep.context["seed"] == 9
    again = engine.run_sweep(case.model, 1e-6, 10.0, 6, True, seed=9)
    np.testing.assert_array_equal(sweep.losses, again.losses)
