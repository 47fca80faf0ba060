"""run_torch_sweep: torch-lr-finder's range test batch for batch, on a plain PyTorch model.

The reference is torch-lr-finder 0.2.2 itself, run on an identical case built from the same
seed: the learning rates and raw losses must be equal (``==``).  Then: everything restored after
every ending, nothing written, bad input refused before any batch.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lrwidget import LRWidgetValueError, Sweep, SweepRunningError, run_torch_sweep
from lrwidget.smoothing import ema_plain
from tests.support.torch_models import MODELS, Case, build
from tests.support.torch_state import Boom, raise_at, same, state_of, used_case

torch_lr_finder = pytest.importorskip("torch_lr_finder")
pytestmark = pytest.mark.peers

NUM_IT = 40  # more than the 10 batches of a pass: the training loader restarts


def reference(case: Case, *, val: bool = False, **options: Any) -> dict[str, list[float]]:
    """torch-lr-finder's ``history`` for ``case`` (its progress bar and prints swallowed)."""
    finder = torch_lr_finder.LRFinder(case.model, case.optimizer, case.criterion)
    options.setdefault("num_iter", NUM_IT)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        finder.range_test(case.train_loader, val_loader=case.val_loader if val else None, **options)
    return finder.history


def ours(case: Case, *, val: bool = False, **options: Any) -> Sweep:
    options["num_it"] = options.pop("num_iter", NUM_IT)
    return run_torch_sweep(
        case.model,
        case.optimizer,
        case.criterion,
        case.train_loader,
        val_loader=case.val_loader if val else None,
        **options,
    )


# (model, options, validation): every model, both schedules, a divergence stop, accumulation,
# a validation loss after every batch, and a start from the optimizer's own lr.
CASES = [
    pytest.param("mlp", {"start_lr": 1e-4, "end_lr": 0.3}, False, id="mlp-exp"),
    pytest.param(
        "mlp", {"start_lr": 1e-3, "end_lr": 3, "step_mode": "linear"}, True, id="mlp-lin-val"
    ),
    pytest.param(
        "cnn", {"start_lr": 1e-5, "end_lr": 1, "accumulation_steps": 3}, False, id="cnn-exp-acc"
    ),
    pytest.param(
        "cnn", {"start_lr": 1e-4, "end_lr": 5, "diverge_th": 1.5}, True, id="cnn-exp-val-div"
    ),
    pytest.param(
        "dropout",
        {"end_lr": 1, "step_mode": "linear", "accumulation_steps": 2},
        True,
        id="dropout-lin-acc-val",
    ),
    pytest.param(
        "dropout", {"start_lr": 1e-5, "end_lr": 100, "diverge_th": 2}, False, id="dropout-exp-div"
    ),
]


@pytest.mark.parametrize(("name", "options", "val"), CASES)
def test_lrs_and_losses_equal_torch_lr_finder(
    name: str, options: dict[str, Any], val: bool
) -> None:
    expected = reference(build(name, seed=3), val=val, smooth_f=0, **options)
    sweep = ours(build(name, seed=3), val=val, smooth_f=0, **options)
    assert sweep.lrs.tolist() == expected["lr"]
    assert sweep.losses.tolist() == expected["loss"]
    assert sweep.status == ("done" if len(sweep) == NUM_IT else "diverged")
    assert sweep.schedule == options.get("step_mode", "exp") and sweep.preset == "torch-lr-finder"


def test_divergence_stops_where_torch_lr_finder_does() -> None:
    expected = reference(build("mlp", seed=5), smooth_f=0, start_lr=1e-3, end_lr=100)
    sweep = ours(build("mlp", seed=5), smooth_f=0, start_lr=1e-3, end_lr=100)
    assert sweep.status == "diverged" and len(sweep) < NUM_IT
    assert sweep.losses.tolist() == expected["loss"]


@pytest.mark.parametrize("step_mode", ["exp", "linear"])
def test_with_its_default_smoothing_the_stop_and_the_smoothed_curve_agree(step_mode: str) -> None:
    """smooth_f=0.05 (the default): the divergence rule watches the smoothed loss; lrwidget
    records raw losses, and smoothing them as torch-lr-finder does gives its history."""
    options = {"start_lr": 1e-4, "end_lr": 30, "step_mode": step_mode, "diverge_th": 2}
    expected = reference(build("dropout", seed=4), **options)
    sweep = ours(build("dropout", seed=4), **options)
    assert sweep.lrs.tolist() == expected["lr"]
    assert ema_plain(sweep.losses, 0.95).tolist() == expected["loss"]


def test_two_param_groups_each_follow_their_own_schedule() -> None:
    def case() -> Case:
        built = build("mlp", seed=6)
        first, second = built.model[0], built.model[2]
        built.optimizer = torch.optim.SGD(
            [
                {"params": first.parameters(), "lr": 1e-4},
                {"params": second.parameters(), "lr": 1e-2},
            ]
        )
        return built

    expected = reference(case(), smooth_f=0, end_lr=1)  # start_lr=None: each group's own lr
    sweep = ours(case(), smooth_f=0, end_lr=1)
    assert sweep.lrs.tolist() == expected["lr"] and sweep.losses.tolist() == expected["loss"]


# --- restored after every ending -----------------------------------------------------------------
ENDINGS = [
    "done",
    "diverged",
    "stop-first",
    "stop-mid",
    "interrupt",
    "model-error",
    "on-batch-error",
]


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("name", MODELS)
def test_everything_is_restored_after_every_ending(
    name: str, ending: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = used_case(name)
    options: dict[str, Any] = {"start_lr": 1e-5, "end_lr": 1e3 if ending == "diverged" else 0.1}
    stop = threading.Event()
    error: BaseException | None = None
    if ending == "stop-first":
        stop.set()
    elif ending == "stop-mid":
        options["on_batch"] = lambda sweep: len(sweep) == 5 and stop.set()
    elif ending == "interrupt":
        error = KeyboardInterrupt()
        case.criterion = _wrap(case.criterion, raise_at(7, error))
    elif ending == "model-error":
        error = Boom("forward failed")
        case.model.register_forward_pre_hook(raise_at(4, error))
    elif ending == "on-batch-error":
        error = ValueError("callback failed")
        options["on_batch"] = raise_at(3, error)
    before = state_of(case)
    sweep = Sweep(NUM_IT, 1e-5, options["end_lr"], stop_div=True)
    monkeypatch.chdir(tmp_path)
    val = (name == "cnn" and error is None) or ending == "on-batch-error"  # counts batches only
    if error is None:
        ours(case, val=val, stop=stop, sweep=sweep, **options)
    else:
        with pytest.raises(type(error)) as raised:
            ours(case, val=val, stop=stop, sweep=sweep, **options)
        assert raised.value is error and raised.value.lrwidget_sweep is sweep  # type: ignore[attr-defined]
    assert same(state_of(case), before)
    assert list(tmp_path.iterdir()) == []  # nothing written
    expected = {
        "done": ("done", NUM_IT),
        "stop-first": ("stopped", 0),
        "stop-mid": ("stopped", 5),
        "interrupt": ("stopped", 6),
        "model-error": ("failed", 3),
        "on-batch-error": ("failed", 3),
    }
    if ending == "diverged":
        assert sweep.status == "diverged" and 0 < len(sweep) < NUM_IT
    else:
        assert (sweep.status, len(sweep)) == expected[ending]
    assert (sweep.error is not None) == (sweep.status == "failed")


def _wrap(criterion: Any, hook: Any) -> Any:
    def wrapped(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        hook()
        return criterion(outputs, labels)

    return wrapped


@pytest.mark.parametrize("name", MODELS)
def test_a_fresh_optimizer_is_left_without_state(name: str) -> None:
    case = build(name, seed=9)
    before = state_of(case)
    ours(case, val=True, end_lr=1)
    assert not case.optimizer.state and same(state_of(case), before)


def test_a_second_sweep_on_the_same_model_is_refused() -> None:
    case = build("mlp")
    refused: list[BaseException] = []

    def try_again(sweep: Sweep) -> None:
        if len(sweep) == 2:
            with pytest.raises(SweepRunningError) as raised:
                ours(case)
            refused.append(raised.value)

    assert ours(case, on_batch=try_again, end_lr=0.1).status == "done"
    assert "already running" in str(refused[0])
    assert ours(case, end_lr=0.1).status == "done"  # released afterwards


# --- refused before any batch --------------------------------------------------------------------
def _other_optimizer(case: Case) -> None:
    case.optimizer = torch.optim.SGD(build("mlp").model.parameters(), lr=1e-3)


REFUSALS = [
    ("foreign-optimizer", _other_optimizer, {}, "none of its 4 parameters belongs to model"),
    ("empty-loader", lambda case: setattr(case, "train_loader", []), {}, "len(train_loader)=0"),
    ("one-shot-loader", lambda case: setattr(case, "train_loader", iter([1])), {}, "re-iterable"),
    ("criterion", lambda case: setattr(case, "criterion", "mse"), {}, "criterion must be callable"),
    ("step-mode", None, {"step_mode": "cosine"}, "step_mode='cosine'"),
    ("start-lr", None, {"start_lr": 0.0}, "start_lr must be a finite number > 0"),
    ("end-lr", None, {"start_lr": 1e-3, "end_lr": 1e-4}, "end_lr must be a finite number greater"),
    ("num-it", None, {"num_iter": 1}, "num_it must be an integer >= 2"),
    ("num-it-type", None, {"num_iter": 10.5}, "num_it must be an integer"),
    ("smooth-f", None, {"smooth_f": 1.0}, "smooth_f must be in [0, 1)"),
    ("diverge-th", None, {"diverge_th": 0.5}, "diverge_th must be greater than 1"),
    ("accumulation", None, {"accumulation_steps": 0}, "accumulation_steps must be an integer >= 1"),
    ("device", None, {"device": "warp-drive"}, "device must be None, a device name"),
    ("group-lr", lambda case: case.optimizer.param_groups[0].update(lr=0.0), {}, "['lr']=0.0"),
    ("on-batch", None, {"on_batch": 3}, "on_batch must be a callable"),
    ("stop", None, {"stop": True}, "stop must be an event-like object"),
    ("sweep", None, {"sweep": Sweep.from_arrays([1e-3], [1.0])}, "must be a new, empty Sweep"),
]


@pytest.mark.parametrize(
    ("change", "options", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_bad_input_is_refused_before_any_batch(
    change: Any, options: dict[str, Any], message: str
) -> None:
    case = build("mlp")
    if change is not None:
        change(case)
    calls: list[int] = []
    case.criterion = (
        _wrap(case.criterion, lambda: calls.append(1))
        if callable(case.criterion)
        else case.criterion
    )
    before = state_of(case)
    with pytest.raises((LRWidgetValueError, TypeError), match=re.escape(message)):
        ours(case, **options)
    assert calls == [] and same(state_of(case), before)


def test_explicit_device_and_a_list_of_batches() -> None:
    """device='cpu' and a plain list of (inputs, labels) batches, replayed on every pass."""
    case = build("mlp", seed=8)
    case.train_loader = list(case.train_loader)  # type: ignore[assignment]
    sweep = ours(case, smooth_f=0, start_lr=1e-4, end_lr=1, device="cpu")
    assert len(sweep) == NUM_IT and np.isfinite(sweep.losses).all()
    assert sweep.lrs.tolist() == [1e-4 * (1 / 1e-4) ** (i / (NUM_IT - 1)) for i in range(NUM_IT)]
