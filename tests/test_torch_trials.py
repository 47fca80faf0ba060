"""Trial fits on plain PyTorch (``run_torch_trials``, and Try these LRs on ``for_torch``).

Each trial equals (``==``) a training loop written out by hand with torch's ``OneCycleLR`` on a
twin built from the same seed; however the trials end, the model, the optimizer and the global
RNGs are bit-for-bit as they were and nothing is written; bad input is refused before any
batch; a stop ends the running trial within one batch.
"""

from __future__ import annotations

import itertools
import math
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.optim.lr_scheduler import OneCycleLR

from lrwidget import (
    LRFinderWidget,
    LRWidgetValueError,
    SweepRunningError,
    Trial,
    run_torch_sweep,
    run_torch_trials,
)
from lrwidget._torch_trials import MIN_STEPS
from tests.support.comm import CommRecorder, click
from tests.support.torch_models import MODELS, Case, build
from tests.support.torch_state import Boom, raise_at, same, state_of, used_case

LRS = (1e-3, 3e-2, 0.3)
TIMEOUT = 120.0


def trials_of(case: Case, lrs: Any = LRS, *, val: bool = True, **options: Any) -> list[Trial]:
    return run_torch_trials(
        case.model,
        case.optimizer,
        case.criterion,
        case.train_loader,
        lrs,
        val_loader=case.val_loader if val else None,
        **options,
    )


# --- the reference: the loop written out by hand ------------------------------------------------
def by_hand(
    case: Case, lr: float, epochs: int, per_epoch: int, accumulation: int = 1
) -> tuple[list[float], float]:
    """``epochs`` epochs of ``per_epoch`` optimizer steps under torch's OneCycleLR with
    fastai's fit_one_cycle shape, validating after each; (raw losses, last validation loss)."""
    model, optimizer = case.model, case.optimizer
    cycle_momentum = "betas" in optimizer.defaults or optimizer.defaults.get("momentum", 0) > 0
    schedule = OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * per_epoch, pct_start=0.25, div_factor=25,
        final_div_factor=1e5, anneal_strategy="cos", cycle_momentum=cycle_momentum,
        base_momentum=0.85, max_momentum=0.95,
    )  # fmt: skip
    raw: list[float] = []
    valid = math.nan
    for _ in range(epochs):
        model.train()
        batches = iter(case.train_loader)
        for _ in range(per_epoch):
            optimizer.zero_grad()
            total = None
            for inputs, labels in itertools.islice(batches, accumulation):
                loss = case.criterion(model(inputs), labels) / accumulation
                loss.backward()
                total = loss.detach() if total is None else total + loss.detach()
            optimizer.step()
            schedule.step()
            raw.append(float(total.item()))  # type: ignore[union-attr]
        model.eval()
        summed, count = 0.0, 0
        with torch.no_grad():
            for inputs, labels in case.val_loader:
                summed += float(case.criterion(model(inputs), labels).item()) * len(labels)
                count += len(labels)
        valid = summed / count
    return raw, valid


def debiased_average(raw: list[float], beta: float = 0.98) -> list[float]:
    value, smoothed = 0.0, []
    for count, loss in enumerate(raw, start=1):
        value = loss + beta * (value - loss)
        smoothed.append(value / (1 - beta**count))
    return smoothed


# (model, epochs, n_batches, accumulation): 10 batches of 32 digits per pass
EQUALITY = [
    pytest.param("mlp", 2, None, 1, id="mlp-2-epochs"),
    pytest.param("cnn", 1, 6, 1, id="cnn-6-batches"),
    pytest.param("dropout", 2, 4, 2, id="dropout-2x4-accumulated"),
]


@pytest.mark.parametrize(("name", "epochs", "n_batches", "accumulation"), EQUALITY)
def test_each_trial_equals_the_loop_written_out_by_hand(
    name: str, epochs: int, n_batches: int | None, accumulation: int
) -> None:
    trials = trials_of(
        build(name, seed=3), epochs=epochs, n_batches=n_batches, accumulation_steps=accumulation
    )
    per_epoch = min(10 // accumulation, n_batches or 10)
    assert [trial.lr for trial in trials] == list(LRS)
    for trial in trials:
        raw, valid = by_hand(build(name, seed=3), trial.lr, epochs, per_epoch, accumulation)
        assert trial.status == "done" and trial.error is None and trial.metrics == {}
        assert list(trial.raw_losses) == raw and trial.valid_loss == valid
        assert list(trial.train_losses) == debiased_average(raw)


def test_every_trial_starts_from_the_same_state_rng_included() -> None:
    """Dropout draws from torch's generator and the loader shuffles with it: twice the same
    lr gives the same numbers only if each trial starts from the same generator state."""
    first, second = trials_of(build("dropout", seed=4), [0.05, 0.05])
    assert first == second and len(first.raw_losses) == 10


def test_plain_sgd_keeps_its_momentum_off() -> None:
    case = build("mlp", seed=5)
    case.optimizer = torch.optim.SGD(case.model.parameters(), lr=1e-3)
    seen: list[tuple[float, float]] = []

    def watch(_trial: int, _batch: int, _partial: Trial) -> None:
        group = case.optimizer.param_groups[0]
        seen.append((group["momentum"], group["lr"]))

    (trial,) = trials_of(case, [0.1], on_batch=watch)
    assert trial.status == "done" and {momentum for momentum, _ in seen} == {0}
    lrs = [lr for _, lr in seen]  # after batch i: the lr of batch i + 1, up then down
    assert 0.09 < max(lrs) <= 0.1 and lrs[-2] == pytest.approx(0.1 / 25 / 1e5)


# --- restored after every ending ----------------------------------------------------------------
def _counting(case: Case, hook: Any) -> None:
    criterion = case.criterion

    def counted(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        hook()
        return criterion(outputs, labels)

    case.criterion = counted


def _poison(case: Case, call: int) -> None:
    """The criterion's ``call``-th loss (counting from 1) is infinite."""
    criterion, calls = case.criterion, itertools.count(1)

    def poisoned(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = criterion(outputs, labels)
        return loss * math.inf if next(calls) == call else loss

    case.criterion = poisoned


# ending -> (the statuses, the number of training batches each trial recorded)
ENDINGS: dict[str, tuple[list[str], list[int]]] = {
    "done": (["done", "done", "done"], [10, 10, 10]),
    "diverged": (["done", "diverged", "done"], [10, 3, 10]),
    "stop-first": (["stopped"] * 3, [0, 0, 0]),
    "stop-mid": (["done", "stopped", "stopped"], [10, 4, 0]),
    "stop-in-validation": (["stopped", "stopped", "stopped"], [10, 0, 0]),
    "interrupt": (["done", "stopped", "stopped"], [10, 2, 0]),
    "model-error": (["failed", "done", "done"], [3, 10, 10]),
    "on-batch-error": (["done", "failed", "stopped"], [10, 3, 0]),
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
@pytest.mark.parametrize("name", MODELS)
def test_everything_is_restored_after_every_ending(
    name: str, ending: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = used_case(name)
    lrs = [1e-3, 1e-2, 3e-2]
    stop = threading.Event()
    options: dict[str, Any] = {"stop": stop}
    error: BaseException | None = None
    if ending == "diverged":  # trial 1's third batch (trial 0 trained 10 and validated 3)
        _poison(case, 10 + 3 + 3)
    elif ending == "stop-first":
        stop.set()
    elif ending == "stop-mid":
        options["on_batch"] = lambda trial, batch, _: trial == 1 and batch == 3 and stop.set()
    elif ending == "stop-in-validation":  # the first validation batch of the first trial
        _counting(case, lambda: (not case.model.training) and stop.set())
    elif ending == "interrupt":
        error = KeyboardInterrupt()
        _counting(case, raise_at(10 + 3 + 3, error))  # trial 1's third batch (3 validated)
    elif ending == "model-error":
        error = Boom("forward failed")
        case.model.register_forward_pre_hook(raise_at(4, error))
    elif ending == "on-batch-error":
        error = ValueError("callback failed")
        options["on_batch"] = raise_at(10 + 3, error)
    before = state_of(case)
    monkeypatch.chdir(tmp_path)
    if error is None or isinstance(error, Boom):
        trials = trials_of(case, lrs, **options)
    else:
        with pytest.raises(type(error)) as raised:
            trials_of(case, lrs, **options)
        assert raised.value is error
        trials = raised.value.lrwidget_trials  # type: ignore[attr-defined]
    assert same(state_of(case), before)
    assert list(tmp_path.iterdir()) == []  # nothing written
    statuses, counts = ENDINGS[ending]
    assert [trial.status for trial in trials] == statuses
    for trial, count in zip(trials, counts, strict=True):
        assert len(trial.raw_losses) == len(trial.train_losses) == count
        assert all(map(math.isfinite, trial.raw_losses[:-1]))
        if count:
            assert math.isfinite(trial.raw_losses[-1]) == (trial.status != "diverged")
        assert (trial.error is not None) == (trial.status == "failed")
        assert (trial.valid_loss is not None) == (trial.status == "done")
    if ending == "model-error":
        assert trials[0].error == "Boom: forward failed"


def test_a_fresh_optimizer_is_left_without_state() -> None:
    case = build("cnn", seed=9)
    before = state_of(case)
    trials_of(case, [1e-2], epochs=2)
    assert not case.optimizer.state and same(state_of(case), before)


def test_trials_and_sweeps_on_one_model_exclude_each_other() -> None:
    case = build("mlp", seed=2)
    refused: list[str] = []

    def sweep_meanwhile(_trial: int, batch: int, _partial: Trial) -> None:
        if batch == 1:
            with pytest.raises(SweepRunningError) as raised:
                run_torch_sweep(case.model, case.optimizer, case.criterion, case.train_loader)
            refused.append(str(raised.value))

    assert trials_of(case, [1e-2], on_batch=sweep_meanwhile)[0].status == "done"

    def trials_meanwhile(sweep: Any) -> None:
        if len(sweep) == 1:
            with pytest.raises(SweepRunningError) as raised:
                trials_of(case, [1e-2])
            refused.append(str(raised.value))

    sweep = run_torch_sweep(
        case.model, case.optimizer, case.criterion, case.train_loader, end_lr=1,
        num_it=5, on_batch=trials_meanwhile,
    )  # fmt: skip
    assert sweep.status == "done" and "already running" in refused[0]
    assert "trials refused" in refused[1]
    assert trials_of(case, [1e-2])[0].status == "done"  # released afterwards


class NoLength:
    """A re-iterable of batches without len(), as an iterable dataset's loader."""

    def __init__(self, batches: list[Any]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[Any]:
        return iter(self.batches)


def test_a_loader_without_length_needs_n_batches_and_is_cut_there() -> None:
    case = build("mlp", seed=6)
    case.train_loader = NoLength(list(case.train_loader))  # type: ignore[assignment]
    with pytest.raises(LRWidgetValueError, match=re.escape("pass n_batches")):
        trials_of(case, [1e-2])
    assert [len(t.raw_losses) for t in trials_of(case, [1e-2], n_batches=6)] == [6]
    (short,) = trials_of(case, [1e-2], n_batches=12)  # 10 batches a pass: the trial fails
    assert short.status == "failed" and "ran out after 10 of the 12 batches" in str(short.error)


def test_without_validation_data_trials_have_no_validation_loss() -> None:
    trials = trials_of(build("mlp", seed=1), val=False)
    assert all(trial.status == "done" and trial.valid_loss is None for trial in trials)


# --- refused before any batch --------------------------------------------------------------------
def _other_optimizer(case: Case) -> None:
    case.optimizer = torch.optim.SGD(build("mlp").model.parameters(), lr=1e-3)


REFUSALS = [
    ("no-lrs", None, {"lrs": []}, "lrs must hold at least one learning rate"),
    ("zero-lr", None, {"lrs": [1e-3, 0.0]}, "lrs[1] must be a finite number > 0"),
    ("lrs-text", None, {"lrs": "1e-3"}, "lrs must be a sequence of learning rates"),
    ("epochs", None, {"epochs": 0}, "epochs must be an integer >= 1; got epochs=0"),
    ("n-batches", None, {"n_batches": 2.5}, "n_batches must be an integer >= 1"),
    ("too-short", None, {"n_batches": 2, "epochs": 2}, "got epochs=2 x 2 batches per epoch = 4"),
    ("accumulation", None, {"accumulation_steps": 0}, "accumulation_steps must be an integer"),
    ("accumulation-long", None, {"accumulation_steps": 11}, "len(train_loader)=10"),
    ("device", None, {"device": "warp-drive"}, "device must be None, a device name"),
    ("foreign-optimizer", _other_optimizer, {}, "none of its 4 parameters belongs to model"),
    ("empty-loader", lambda case: setattr(case, "train_loader", []), {}, "len(train_loader)=0"),
    ("one-shot", lambda case: setattr(case, "train_loader", iter([1])), {}, "re-iterable"),
    ("criterion", lambda case: setattr(case, "criterion", "mse"), {}, "criterion must be callable"),
    ("on-batch", None, {"on_batch": 3}, "on_batch must be a callable"),
    ("stop", None, {"stop": True}, "stop must be an event-like object"),
    ("on-trial", None, {"on_trial": 3}, "on_trial must be callable"),
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
    if callable(case.criterion):
        _counting(case, lambda: calls.append(1))
    before = state_of(case)
    lrs = options.pop("lrs", LRS)
    with pytest.raises((LRWidgetValueError, TypeError), match=re.escape(message)):
        trials_of(case, lrs, **options)
    assert calls == [] and same(state_of(case), before)


def test_the_shortest_trial_allowed_runs() -> None:
    (trial,) = trials_of(build("mlp"), [1e-2], n_batches=MIN_STEPS)
    assert trial.status == "done" and len(trial.raw_losses) == MIN_STEPS


def test_plain_pytorch_trials_never_import_fastai() -> None:
    code = (
        "import sys\n"
        "from tests.support.torch_models import build\n"
        "import lrwidget\n"
        "case = build('mlp')\n"
        "trials = lrwidget.run_torch_trials(case.model, case.optimizer, case.criterion,\n"
        "    case.train_loader, [1e-2], val_loader=case.val_loader, n_batches=5)\n"
        "assert isinstance(trials[0], lrwidget.Trial), trials\n"
        "print('fastai' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
        cwd=root,
    )  # fmt: skip
    assert result.stdout.strip() == "False"


# --- through the widget ------------------------------------------------------------------------
def torch_widget(case: Case, **settings: Any) -> LRFinderWidget:
    settings = {"start_lr": 1e-4, "end_lr": 3, "num_it": 30, **settings}
    return LRFinderWidget.for_torch(
        case.model, case.optimizer, case.criterion, case.train_loader,
        val_loader=case.val_loader, **settings,
    )  # fmt: skip


def test_try_on_the_torch_widget_runs_the_suggestions_and_restores_everything(
    comm_recorder: CommRecorder,
) -> None:
    case = build("cnn", seed=11)
    widget = torch_widget(case)
    widget.run()
    widget.wait(timeout=TIMEOUT, chart=True)
    before = state_of(case)
    suggestions = [r.lr for r in widget.analysis.rules.values() if r.lr is not None]  # type: ignore[union-attr]
    assert suggestions and not widget.controls.try_button.disabled
    click(widget.controls.try_button)
    widget.wait(timeout=TIMEOUT, chart=True)
    assert same(state_of(case), before)
    trials = widget.trials
    assert [trial.lr for trial in trials] == list(dict.fromkeys(suggestions))
    assert all(trial.status in ("done", "diverged") and len(trial.raw_losses) for trial in trials)
    done = [t for t in trials if t.valid_loss is not None and math.isfinite(t.valid_loss)]
    assert sorted(widget._frames.trials.valid.x) == sorted(t.lr for t in done)
    best = widget.best_trial
    assert best is not None and best.valid_loss == min(t.valid_loss for t in done)
    widget.selected = "best trial"
    assert widget.apply() == best.lr
    assert {group["lr"] for group in case.optimizer.param_groups} == {best.lr}


def test_the_widget_trials_equal_the_headless_ones_and_stop_ends_them(
    comm_recorder: CommRecorder,
) -> None:
    widget = torch_widget(build("dropout", seed=12))
    widget.start_trials(lrs=[1e-3, 1e-2], epochs=2, n_batches=6)
    widget.wait(timeout=TIMEOUT)
    assert widget.trials == trials_of(
        build("dropout", seed=12), [1e-3, 1e-2], epochs=2, n_batches=6
    )
    case = build("mlp", seed=13)
    widget = torch_widget(case)
    before = state_of(case)
    started = threading.Event()
    _counting(case, started.set)
    widget._engine.criterion = case.criterion
    widget.start_trials(lrs=[1e-3, 1e-2, 1e-1], epochs=50)
    assert started.wait(TIMEOUT)
    widget.stop()
    widget.wait(timeout=TIMEOUT)
    statuses = [trial.status for trial in widget.trials]
    assert statuses[0] == "stopped" and statuses[1:] == ["stopped", "stopped"]
    assert same(state_of(case), before)


def test_a_torch_sweep_that_diverges_names_torch_lr_finders_rule(
    comm_recorder: CommRecorder,
) -> None:
    widget = torch_widget(build("mlp", seed=14), diverge_th=1.5, end_lr=1e3)
    widget.run()
    widget.wait(timeout=TIMEOUT, chart=True)
    assert widget.sweep is not None and widget.sweep.status == "diverged"
    status = widget.controls.status_html.value
    assert "diverge_th" in status and "torch-lr-finder" in status and "4×" not in status


def test_trial_val_loader_validates_the_trials_and_leaves_the_sweep_alone(
    comm_recorder: CommRecorder,
) -> None:
    case = build("mlp", seed=15)
    widget = LRFinderWidget.for_torch(
        case.model, case.optimizer, case.criterion, case.train_loader,
        start_lr=1e-4, end_lr=3, num_it=20, trial_val_loader=case.val_loader,
    )  # fmt: skip
    widget.run()
    widget.wait(timeout=TIMEOUT)
    twin = build("mlp", seed=15)
    sweep = run_torch_sweep(
        twin.model, twin.optimizer, twin.criterion, twin.train_loader, start_lr=1e-4,
        end_lr=3, num_it=20,
    )  # fmt: skip
    assert widget.sweep is not None and widget.sweep.losses.tolist() == sweep.losses.tolist()
    widget.start_trials(lrs=[1e-2], n_batches=5)
    widget.wait(timeout=TIMEOUT)
    assert widget.trials == trials_of(build("mlp", seed=15), [1e-2], n_batches=5)
    assert widget.trials[0].valid_loss is not None
    with pytest.raises(TypeError, match=re.escape("trial_val_loader must be re-iterable")):
        LRFinderWidget.for_torch(
            case.model, case.optimizer, case.criterion, case.train_loader,
            trial_val_loader=iter(case.val_loader),
        )  # fmt: skip
