"""One-cycle trials (``run_trials``): each trial equals ``fit_one_cycle`` on a fresh twin
Learner, the ``n_batches`` budget equals its documented composition of fastai calls, and
however the run ends the Learner is bit-for-bit as it was and no file is written.  Also:
divergence, stop within one batch, streaming, trials and sweeps excluding each other, and
bad input refused before any batch."""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from fastai.callback.core import Callback
from fastai.callback.progress import CSVLogger
from fastai.callback.schedule import combined_cos
from fastai.callback.tracker import SaveModelCallback
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.metrics import accuracy, mae, rmse

import lrwidget
from lrwidget import LRWidgetValueError, SweepRunningError, Trial, run_sweep, run_trials
from lrwidget.sweep import Sweep
from tests.support.faults import (
    Arm,
    PauseAt,
    arm_finished,
    arm_inf_loss,
    arm_learner_callback_raises,
    arm_loss_raises,
    arm_model_raises,
    arm_nan_from,
    arm_on_batch_raises,
    arm_stop_at,
    fault_setup,
    file_listing,
)
from tests.support.learners import BUILDERS, assert_unchanged, user_state, warm_up

pytestmark = pytest.mark.fastai

LRS = (1e-3, 1e-2, 3e-2)
KINDS = sorted(BUILDERS)  # digits (22 batches/epoch), regression (10), synthetic (7)


# --- the reference: plain fastai on a fresh twin ---------------------------------------------


class RawLosses(Callback):
    """Records ``learn.loss.mean()`` of every training batch (changes no number)."""

    order = 55

    def __init__(self) -> None:
        super().__init__()
        self.raw: list[float] = []

    def after_batch(self) -> None:
        if self.learn.training:
            self.raw.append(float(self.learn.loss.mean().detach()))


class FirstBatches(Callback):
    """The documented composition of ``n_batches=B``: each epoch's loop runs over the first
    ``B`` batches of the usual shuffled training loader."""

    order = -20

    def __init__(self, batches: int) -> None:
        super().__init__()
        self.batches = batches

    def before_train(self) -> None:
        self.learn.dl = list(itertools.islice(self.learn.dl, self.batches))


def build(kind: str, path: Path, seed: int = 0) -> Learner:
    """A ``kind`` Learner with fastai metrics, so ``Trial.metrics`` has something to match."""
    learn = BUILDERS[kind](seed, path)
    learn.metrics = [mae, rmse] if kind == "regression" else [accuracy]
    return learn


def fastai_trial(learn: Learner, lr: float, epochs: int = 1, batches: int | None = None) -> Trial:
    """What ``fit_one_cycle`` logs on ``learn``, as a Trial (status ``done``)."""
    raw = RawLosses()
    extra = [raw] if batches is None else [raw, FirstBatches(batches)]
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(epochs, lr, cbs=extra)
    recorder = learn.recorder
    record = dict(zip(recorder.metric_names[1:-1], recorder.values[-1], strict=True))
    valid_loss = record.pop("valid_loss")
    del record["train_loss"]
    losses = tuple(float(loss) for loss in recorder.losses)
    return Trial(lr, "done", losses, tuple(raw.raw), valid_loss, record)


# --- exactness -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_each_trial_equals_fit_one_cycle_on_a_fresh_learner(kind: str, tmp_path: Path) -> None:
    learn = build(kind, tmp_path)
    before = user_state(learn)
    trials = run_trials(learn, LRS)
    assert_unchanged(before, learn)
    assert learn.opt is None  # fresh before, fresh after
    for lr, trial in zip(LRS, trials, strict=True):
        expected = fastai_trial(build(kind, tmp_path), lr)
        assert trial == expected
        assert trial.metrics and trial.valid_loss is not None
        assert type(trial.train_losses) is tuple and type(trial.raw_losses) is tuple


def test_trials_from_a_trained_learner_equal_its_twin(tmp_path: Path) -> None:
    """Optimizer state, BatchNorm statistics and a recorder history are the start of every
    trial: each equals ``fit_one_cycle`` on a twin trained the same way."""
    learn = build("digits", tmp_path)
    warm_up(learn)
    before = user_state(learn)
    trials = run_trials(learn, LRS[:2], epochs=2)
    assert_unchanged(before, learn)
    for lr, trial in zip(LRS, trials, strict=False):
        twin = build("digits", tmp_path)
        warm_up(twin)
        assert trial == fastai_trial(twin, lr, epochs=2)
        assert len(trial.train_losses) == 2 * 22


@pytest.mark.parametrize("kind", KINDS)
def test_batch_budget_equals_its_fastai_composition(kind: str, tmp_path: Path) -> None:
    learn = build(kind, tmp_path)
    trials = run_trials(learn, LRS[:2], epochs=2, n_batches=3)
    for lr, trial in zip(LRS, trials, strict=False):
        twin = build(kind, tmp_path)
        assert trial == fastai_trial(twin, lr, epochs=2, batches=3)
        assert len(trial.train_losses) == 2 * 3
        # the one cycle spans the 6 batches trained, not 2 whole epochs
        cycle = combined_cos(0.25, lr / 25, lr, lr / 1e5)
        assert twin.recorder.hps["lr"] == [cycle(batch / 6) for batch in range(6)]


def test_a_budget_of_a_whole_epoch_or_more_is_no_budget(tmp_path: Path) -> None:
    whole = run_trials(build("regression", tmp_path), LRS[:1], n_batches=10)
    more = run_trials(build("regression", tmp_path), LRS[:1], n_batches=10**6)
    none = run_trials(build("regression", tmp_path), LRS[:1])
    assert whole == more == none


# --- divergence, stop, streaming ------------------------------------------------------------


class NanAboveLr:
    """A loss that turns NaN while the optimizer's learning rate is above ``limit``."""

    def __init__(self, learn: Learner, limit: float) -> None:
        self.learn, self.inner, self.limit = learn, learn.loss_func, limit

    def __call__(self, *args: Any) -> torch.Tensor:
        loss = self.inner(*args)
        if self.learn.opt.hypers[-1]["lr"] > self.limit:
            loss = loss * math.nan
        return loss


def test_a_nan_trial_is_diverged_and_the_next_trials_still_run(tmp_path: Path) -> None:
    learn = build("regression", tmp_path)
    learn.loss_func = NanAboveLr(learn, limit=1.0)
    before = user_state(learn)
    first, nan, last = run_trials(learn, [1e-2, 100.0, 1e-2])  # 100 starts at 100/25 > 1
    assert nan.status == "diverged" and nan.error is None
    assert len(nan.train_losses) == len(nan.raw_losses) == 1
    assert math.isnan(nan.raw_losses[0]) and math.isnan(nan.train_losses[0])
    assert nan.valid_loss is None and dict(nan.metrics) == {}
    assert first.status == "done" and last == first  # the same start, the same numbers
    assert_unchanged(before, learn)


def test_stop_from_another_thread_ends_the_trial_within_one_batch(tmp_path: Path) -> None:
    setup = fault_setup("digits", tmp_path)
    pause = PauseAt(at=5)  # holds the fifth training batch until released
    setup.learn.add_cb(pause)
    setup.model.armed = True  # counts forward calls, injects nothing
    before = user_state(setup.learn)
    stop, outcome = threading.Event(), {}

    def target() -> None:
        outcome["trials"] = run_trials(setup.learn, LRS, stop=stop)

    thread = threading.Thread(target=target, name="trials")
    thread.start()
    try:
        assert pause.reached.wait(60)
        stop.set()
    finally:
        pause.release.set()
        thread.join(60)
    first, *rest = outcome["trials"]
    assert first.status == "stopped" and len(first.train_losses) == 5
    assert first.valid_loss is None
    assert [(trial.status, trial.train_losses) for trial in rest] == [("stopped", ())] * 2
    assert setup.model.spy.calls == 5  # no batch after the one that saw the stop
    assert_unchanged(before, setup.learn)


def test_stop_during_validation_ends_the_trial_within_one_batch(tmp_path: Path) -> None:
    setup = fault_setup("digits", tmp_path)
    stop = threading.Event()

    class StopInValidation(Callback):
        run_train = False

        def after_batch(self) -> None:
            stop.set()

    setup.learn.add_cb(StopInValidation())
    setup.model.armed = True
    before = user_state(setup.learn)
    trials = run_trials(setup.learn, LRS[:2], stop=stop)
    assert [trial.status for trial in trials] == ["stopped", "stopped"]
    assert len(trials[0].train_losses) == 22 and trials[0].valid_loss is None
    assert setup.model.spy.calls == 22 + 1  # one validation batch, then nothing
    assert_unchanged(before, setup.learn)


def test_stop_set_before_the_start_runs_nothing(tmp_path: Path) -> None:
    setup = fault_setup("regression", tmp_path)
    setup.model.armed = True
    stop = threading.Event()
    stop.set()
    trials = run_trials(setup.learn, LRS, stop=stop)
    assert trials == [Trial(lr, "stopped") for lr in LRS]
    assert setup.model.spy.calls == 0


def test_on_batch_streams_every_batch_of_every_trial(tmp_path: Path) -> None:
    calls: list[tuple[int, int, Trial]] = []
    trials = run_trials(
        build("synthetic", tmp_path),
        LRS[:2],
        on_batch=lambda index, batch, trial: calls.append((index, batch, trial)),
    )
    assert [(index, batch) for index, batch, _ in calls] == [
        (index, batch) for index in range(2) for batch in range(7)
    ]
    for index, batch, partial in calls:
        final = trials[index]
        assert partial.status == "running" and partial.lr == final.lr
        # views of the batches so far, frozen at that length while the trial went on
        assert len(partial.train_losses) == len(partial.raw_losses) == batch + 1
        assert list(partial.train_losses) == list(final.train_losses[: batch + 1])
        assert tuple(partial.raw_losses[-2:]) == final.raw_losses[max(batch - 1, 0) : batch + 1]
        with pytest.raises(IndexError):
            partial.train_losses[batch + 1]


# --- however it ends: restored, nothing written ----------------------------------------------


def sweep_hook_for_trials(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The fault matrix's ``on_batch(sweep)`` (it reads ``len(sweep)``) as a trials hook."""
    if "on_batch" in kwargs:
        hook = kwargs["on_batch"]
        kwargs["on_batch"] = lambda index, batch, trial: hook(trial.train_losses)
    return kwargs


# (arm, statuses, losses per trial, error of the failed trials) for lrs (1e-3, 1e-2) with
# n_batches=10: every fault strikes at the 8th forward call, loss call or training batch,
# and goes on striking in the next trial from its first batch.
FAULTS = [
    pytest.param(arm_finished, ["done", "done"], [10, 10], None, id="finished"),
    pytest.param(arm_nan_from(8), ["diverged", "diverged"], [8, 1], None, id="nan-output"),
    pytest.param(arm_inf_loss, ["diverged", "diverged"], [8, 1], None, id="inf-loss"),
    pytest.param(arm_stop_at(1), ["stopped", "stopped"], [1, 0], None, id="stop-at-batch-1"),
    pytest.param(arm_stop_at(5), ["stopped", "stopped"], [5, 0], None, id="stop-mid-trial"),
    pytest.param(arm_stop_at(10), ["stopped", "stopped"], [10, 0], None, id="stop-last-batch"),
    pytest.param(
        arm_model_raises(KeyboardInterrupt()),
        ["stopped", "stopped"],
        [7, 0],
        None,
        id="keyboard-interrupt",
    ),
    pytest.param(
        arm_loss_raises, ["failed", "failed"], [7, 0], "loss function failed", id="loss-raises"
    ),
    pytest.param(
        arm_model_raises(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")),
        ["failed", "failed"],
        [7, 0],
        "CUDA out of memory",
        id="cuda-oom",
    ),
    pytest.param(
        arm_on_batch_raises, ["failed", "stopped"], [7, 0], "on_batch failed", id="on-batch-raises"
    ),
    pytest.param(
        arm_learner_callback_raises,
        ["failed", "failed"],
        [7, 0],
        "user callback failed",
        id="learner-callback-raises",
    ),
]


@pytest.mark.parametrize("kind", ["digits", "regression"])  # >= 10 training batches per epoch
@pytest.mark.parametrize(("arm", "statuses", "losses", "error"), FAULTS)
def test_every_ending_restores_the_learner_and_writes_nothing(
    kind: str,
    arm: Arm,
    statuses: list[str],
    losses: list[int],
    error: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    setup = fault_setup(kind, tmp_path)
    kwargs, expected_error = arm(setup)
    setup.arm()
    files_before = file_listing(tmp_path, Path(os.getcwd()))
    before = user_state(setup.learn)
    # raised: KeyboardInterrupt and on_batch's error; a failing model, loss or callback
    # makes a "failed" trial and the next trial runs
    hooks = sweep_hook_for_trials(kwargs)
    if isinstance(expected_error, KeyboardInterrupt) or (expected_error and "on_batch" in kwargs):
        with pytest.raises(type(expected_error)) as caught:
            run_trials(setup.learn, (1e-3, 1e-2), n_batches=10, **hooks)
        assert caught.value is expected_error
        trials = caught.value.lrwidget_trials  # type: ignore[attr-defined]
    else:
        trials = run_trials(setup.learn, (1e-3, 1e-2), n_batches=10, **hooks)
    assert_unchanged(before, setup.learn)
    assert file_listing(tmp_path, Path(os.getcwd())) == files_before
    assert [trial.status for trial in trials] == statuses
    assert [len(trial.train_losses) for trial in trials] == losses
    for trial in trials:
        assert len(trial.raw_losses) == len(trial.train_losses)
        if trial.status == "failed":
            assert error is not None and trial.error is not None and error in trial.error
        else:
            assert trial.error is None
        assert (trial.valid_loss is not None) == (trial.status == "done")


def test_savers_and_loggers_write_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fastai's fit would save models/model.pth and write history.csv: not in a trial."""
    monkeypatch.chdir(tmp_path)
    learn = build("digits", tmp_path)
    learn.add_cbs([SaveModelCallback(), CSVLogger()])
    files = file_listing(tmp_path)
    before = user_state(learn)
    trials = run_trials(learn, LRS[:2])
    assert [trial.status for trial in trials] == ["done", "done"]
    assert file_listing(tmp_path) == files
    assert not (tmp_path / "models").exists() and not (tmp_path / "history.csv").exists()
    assert_unchanged(before, learn)


# --- trials and sweeps exclude each other ----------------------------------------------------


def paused_in_thread(
    start: Callable[[Callable[..., None]], object],
) -> tuple[threading.Thread, threading.Event, threading.Event, dict[str, Any]]:
    """Run ``start(hook)`` in a thread; ``hook`` (any arguments) waits at its fifth call."""
    reached, release, outcome, calls = threading.Event(), threading.Event(), {}, [0]

    def hook(*_: object) -> None:
        calls[0] += 1
        if calls[0] == 5:
            reached.set()
            release.wait(60)

    def target() -> None:
        try:
            outcome["result"] = start(hook)
        except BaseException as exc:  # reported by the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="worker")
    thread.start()
    return thread, reached, release, outcome


def test_trials_refuse_training_and_sweeps_while_they_run(tmp_path: Path) -> None:
    learn = build("digits", tmp_path)
    warm_up(learn)
    before = user_state(learn)
    thread, reached, release, outcome = paused_in_thread(
        lambda hook: run_trials(learn, LRS[:2], on_batch=hook)
    )
    try:
        assert reached.wait(60)
        for call in (lambda: learn.fit(1), lambda: learn.fit_one_cycle(1)):
            with pytest.raises(SweepRunningError, match="learning-rate trials is running"):
                call()
        with pytest.raises(SweepRunningError) as caught:
            Learner.fit(learn, 1)
        assert "learning-rate trials is running" in str(caught.value)
        with pytest.raises(
            SweepRunningError, match="run_sweep: a run of learning-rate trials is already"
        ):
            run_sweep(learn, num_it=10)
        with pytest.raises(SweepRunningError, match="run_trials: a run of learning-rate trials"):
            run_trials(learn, LRS)
    finally:
        release.set()
        thread.join(60)
    assert "error" not in outcome, outcome
    assert [trial.status for trial in outcome["result"]] == ["done", "done"]
    assert_unchanged(before, learn)
    assert "fit" not in learn.__dict__  # the guards are gone
    with learn.no_bar(), learn.no_logging():
        learn.fit(1)  # allowed again


def test_a_running_sweep_refuses_trials(tmp_path: Path) -> None:
    learn = build("digits", tmp_path)
    before = user_state(learn)
    thread, reached, release, outcome = paused_in_thread(
        lambda hook: run_sweep(learn, num_it=10, on_batch=hook)
    )
    try:
        assert reached.wait(60)
        with pytest.raises(SweepRunningError) as caught:
            run_trials(learn, LRS)
        message = str(caught.value)
        assert message.startswith("run_trials: a learning-rate sweep is already running")
        assert "call run_trials() again" in message
    finally:
        release.set()
        thread.join(60)
    assert isinstance(outcome["result"], Sweep) and outcome["result"].status == "done"
    assert_unchanged(before, learn)
    assert run_trials(learn, LRS[:1])[0].status == "done"  # free again


def test_a_fit_inside_a_trial_is_refused_and_reaches_the_caller(tmp_path: Path) -> None:
    learn = build("regression", tmp_path)
    before = user_state(learn)

    def on_batch(index: int, batch: int, trial: Trial) -> None:
        learn.fit(1)

    with pytest.raises(SweepRunningError, match=r"learn\.fit\(\) refused") as caught:
        run_trials(learn, LRS, on_batch=on_batch)
    trials = caught.value.lrwidget_trials  # type: ignore[attr-defined]
    assert [trial.status for trial in trials] == ["failed", "stopped", "stopped"]
    assert_unchanged(before, learn)


# --- bad input ---------------------------------------------------------------------------------


def _train_only(learn: Learner) -> None:
    learn.dls = DataLoaders(learn.dls.train)


def _no_loss(learn: Learner) -> None:
    learn.loss_func = None


V = LRWidgetValueError
BAD_INPUT = [
    pytest.param({"lrs": []}, None, V, ["lrs", "at least one"], id="lrs-empty"),
    pytest.param({"lrs": 1e-3}, None, TypeError, ["lrs=0.001", "float"], id="lrs-float"),
    pytest.param({"lrs": "1e-3"}, None, TypeError, ["lrs='1e-3'"], id="lrs-str"),
    pytest.param({"lrs": [1e-3, math.nan]}, None, V, ["lrs[1]=nan"], id="lrs-nan"),
    pytest.param({"lrs": [1e-3, 1e-2, 0]}, None, V, ["lrs[2]=0", "> 0"], id="lrs-zero"),
    pytest.param({"lrs": [-1e-3]}, None, V, ["lrs[0]=-0.001"], id="lrs-negative"),
    pytest.param({"lrs": [math.inf]}, None, V, ["lrs[0]=inf"], id="lrs-inf"),
    pytest.param({"lrs": [True]}, None, TypeError, ["lrs[0]=True", "bool"], id="lrs-bool"),
    pytest.param({"lrs": [[1e-3]]}, None, TypeError, ["lrs[0]=[0.001]"], id="lrs-nested"),
    pytest.param({"epochs": 0}, None, V, ["epochs=0", ">= 1"], id="epochs-0"),
    pytest.param({"epochs": 1.5}, None, TypeError, ["epochs=1.5"], id="epochs-float"),
    pytest.param({"epochs": True}, None, TypeError, ["epochs=True"], id="epochs-bool"),
    pytest.param({"n_batches": 0}, None, V, ["n_batches=0"], id="n-batches-0"),
    pytest.param({"n_batches": 2.0}, None, TypeError, ["n_batches=2.0"], id="n-batches-float"),
    pytest.param({"on_batch": 42}, None, TypeError, ["on_batch=42"], id="on-batch-int"),
    pytest.param({"stop": True}, None, TypeError, ["stop=True", "is_set"], id="stop-bool"),
    pytest.param({}, _train_only, V, ["validation data", "1 DataLoader"], id="no-valid"),
    pytest.param({}, _no_loss, V, ["loss_func", "None"], id="no-loss-func"),
]


@pytest.mark.parametrize(("kwargs", "mutate", "error", "fragments"), BAD_INPUT)
def test_bad_input_refused_before_any_batch(
    kwargs: dict[str, Any],
    mutate: Callable[[Learner], None] | None,
    error: type[Exception],
    fragments: list[str],
    tmp_path: Path,
) -> None:
    setup = fault_setup("regression", tmp_path, warm=False)
    setup.model.armed = True  # counts forward calls
    if mutate is not None:
        mutate(setup.learn)
    arguments = {"lrs": LRS, **kwargs}
    lrs = arguments.pop("lrs")
    with pytest.raises(error) as caught:
        run_trials(setup.learn, lrs, **arguments)
    for fragment in fragments:
        assert fragment in str(caught.value), (fragment, str(caught.value))
    assert setup.model.spy.calls == 0 and setup.learn.opt is None


def test_learn_must_be_a_learner() -> None:
    with pytest.raises(TypeError, match="learn must be a fastai Learner"):
        run_trials(torch.nn.Linear(2, 2), LRS)


def test_trial_is_exported_lazily() -> None:
    from lrwidget import _trials

    assert lrwidget.Trial is _trials.Trial and lrwidget.run_trials is _trials.run_trials
