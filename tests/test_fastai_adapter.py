"""run_sweep against fastai's own lr_find: same schedule, same smoothed losses, same
suggestions (compared with ==), on three tiny Learners."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import fastai.callback.schedule as schedule
import numpy as np
import pytest
from fastai.learner import Learner

import lrwidget
from lrwidget._fastai import run_sweep
from lrwidget.smoothing import ema
from lrwidget.sweep import Sweep
from tests.support.learners import BUILDERS, assert_unchanged, user_state, wrap_model

pytestmark = pytest.mark.fastai

ALL_RULES = ("minimum", "steep", "valley", "slide")
NO_SLIDE = ("minimum", "steep", "valley")  # slide needs 16 points in the window


def _build(name: str, seed: int, path: Path, nan_from: int | None) -> Learner:
    learn = BUILDERS[name](seed, path)
    if nan_from is not None:
        model = wrap_model(learn)
        model.armed, model.nan_from = True, nan_from
    return learn


def _fastai_reference(
    name: str, path: Path, nan_from: int | None, rules: tuple[str, ...], **kwargs: Any
) -> tuple[list[float], list[float], Any]:
    learn = _build(name, 0, path, nan_from)
    funcs = tuple(getattr(schedule, rule) for rule in rules)
    with learn.no_bar():
        suggestions = learn.lr_find(suggest_funcs=funcs, show_plot=False, **kwargs)
    lrs = [float(lr) for lr in learn.recorder.lrs]
    losses = [float(loss) for loss in learn.recorder.losses]
    return lrs, losses, suggestions


CASES = [
    # name, num_it, end_lr, nan_from, rules, status
    pytest.param("digits", 100, 10, None, ALL_RULES, "done", id="digits-100"),
    pytest.param("synthetic", 100, 10, None, ALL_RULES, "done", id="synthetic-100"),
    pytest.param("regression", 100, 10, None, ALL_RULES, "diverged", id="regression-100"),
    pytest.param("digits", 100, 100, None, ALL_RULES, "diverged", id="digits-diverge"),
    pytest.param("synthetic", 100, 1000, None, ALL_RULES, "diverged", id="synthetic-diverge"),
    pytest.param("digits", 100, 10, 60, ALL_RULES, "done", id="digits-nan-at-60"),
    pytest.param("synthetic", 100, 10, 75, ALL_RULES, "done", id="synthetic-nan-at-75"),
    pytest.param("synthetic", 10, 10, None, NO_SLIDE, "done", id="synthetic-10"),
    pytest.param("regression", 10, 10, None, NO_SLIDE, "done", id="regression-10"),
    pytest.param("digits", 50, 10, None, ALL_RULES, "done", id="digits-50"),
    pytest.param("regression", 50, 1, None, ALL_RULES, "done", id="regression-50"),
    pytest.param("digits", 200, 10, None, ALL_RULES, "done", id="digits-200"),
    pytest.param("regression", 200, 1, None, ALL_RULES, "done", id="regression-200"),
]


@pytest.mark.parametrize(("name", "num_it", "end_lr", "nan_from", "rules", "status"), CASES)
def test_sweep_matches_fastai_lr_find(
    name: str,
    num_it: int,
    end_lr: float,
    nan_from: int | None,
    rules: tuple[str, ...],
    status: str,
    tmp_path: Path,
) -> None:
    lrs, smooth, expected = _fastai_reference(
        name, tmp_path, nan_from, rules, num_it=num_it, end_lr=end_lr
    )
    learn = _build(name, 0, tmp_path, nan_from)
    sweep = run_sweep(learn, end_lr=end_lr, num_it=num_it)

    assert sweep.status == status
    if status == "diverged":
        assert len(sweep) < num_it
    else:
        assert len(sweep) == num_it
    if nan_from is not None:
        assert np.isnan(sweep.losses[nan_from - 1]) and np.isfinite(sweep.losses[nan_from - 2])
    # (a) the schedule, (b) fastai's smoothed loss: exactly
    assert sweep.lrs.tolist() == lrs
    np.testing.assert_array_equal(sweep.fastai_smooth_losses, smooth)
    # the raw losses are the exact float32 values: smoothing them again gives fastai's curve
    np.testing.assert_array_equal(ema(sweep.losses), np.asarray(smooth, dtype=np.float32))
    # (c) the suggestions, from the live sweep and from the bare arrays
    assert lrwidget.analyze(sweep, methods=rules).suggestions == expected
    replayed = Sweep.from_arrays(sweep.lrs, sweep.losses, num_it)
    assert lrwidget.analyze(replayed, methods=rules).suggestions == expected


def test_epochs_and_schedule(tmp_path: Path) -> None:
    """n_epoch = num_it // len(train) + 1 and lr_i = start * (end/start) ** (i / num_it)."""
    learn = BUILDERS["synthetic"](1, tmp_path)
    epochs: list[int] = []
    sweep = run_sweep(learn, 1e-5, 1.0, 30, on_batch=lambda _sweep: epochs.append(learn.n_epoch))
    assert set(epochs) == {30 // len(learn.dls.train) + 1}
    expected = [1e-5 * (1.0 / 1e-5) ** (i / 30) for i in range(30)]
    assert sweep.lrs.tolist() == expected
    assert sweep.lrs[-1] < 1.0


def test_short_num_it_is_not_raised_to_six(tmp_path: Path) -> None:
    learn = BUILDERS["regression"](0, tmp_path)
    sweep = run_sweep(learn, num_it=3)
    assert len(sweep) == 3 and sweep.status == "done" and sweep.num_it == 3


def test_prints_nothing_and_writes_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    learn = BUILDERS["digits"](0, tmp_path)
    assert hasattr(learn, "progress")  # the progress bar is there and must stay silent
    capfd.readouterr()
    run_sweep(learn, num_it=30)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert list(tmp_path.iterdir()) == []
    assert not hasattr(learn, "lr_finder") and not hasattr(learn, "lrwidget_recorder")


def test_filled_sweep_is_the_one_returned(tmp_path: Path) -> None:
    learn = BUILDERS["regression"](0, tmp_path)
    given = Sweep(20, 1e-7, 10, stop_div=True)
    seen: list[int] = []
    result = run_sweep(learn, num_it=20, sweep=given, on_batch=lambda s: seen.append(len(s)))
    assert result is given
    assert seen == list(range(1, len(given) + 1))
    assert given.finished and given.error is None


def test_loss_nan_from_the_first_batch_is_recorded_as_measured(tmp_path: Path) -> None:
    """NaN never meets the divergence rule (fastai's nor ours), so every batch runs and is
    recorded as NaN; the sweep ends "done" with no error and the Learner is restored.
    fastai's lr_find, on the same record, raises IndexError in its rules; analyze gives each
    rule a reason instead."""
    learn = BUILDERS["digits"](0, tmp_path)
    loss_func = learn.loss_func
    learn.loss_func = lambda *args: loss_func(*args) * math.nan
    before = user_state(learn)
    sweep = run_sweep(learn, num_it=30)
    assert sweep.status == "done" and sweep.error is None and len(sweep) == 30
    assert np.isnan(sweep.losses).all() and np.isnan(sweep.fastai_smooth_losses).all()
    assert sweep.lrs.tolist() == [1e-7 * (10 / 1e-7) ** (i / 30) for i in range(30)]
    assert_unchanged(before, learn)
    analysis = lrwidget.analyze(sweep)
    assert analysis.suggestions == (None, None, None, None)
    assert all(rule.reason for rule in analysis.rules.values())
