"""LRFinderWidget with real (tiny) fastai Learners: the background thread end to end.

Stop mid-sweep, a second Run refused, an exception in the model surfacing through the status
and ``wait()``, and the default suggestions equal to fastai's own ``lr_find`` on the same seed.
Every Learner gets ``path=tmp_path`` so nothing fastai writes lands in the repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from fastai.callback.schedule import minimum, slide, steep, valley
from fastai.test_utils import RegModel, synth_learner
from fastai.torch_core import set_seed

from lrwidget import LRWidgetValueError
from lrwidget.widget import LRFinderWidget
from tests.support.comm import CommRecorder
from tests.support.controls import control
from tests.support.faults import PauseAt
from tests.support.learners import synth_regression_learner

pytestmark = pytest.mark.fastai

TIMEOUT = 60.0  # generous: a stuck sweep fails the test instead of hanging it


class _FailingModel(RegModel):
    """Raises on its 30th forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == 30:
            raise FloatingPointError("the model blew up on batch 30")
        return super().forward(x)


def _weights(learn: Any) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in learn.model.state_dict().items()}


def test_default_suggestions_equal_fastai_lr_find(tmp_path: Path) -> None:
    reference = synth_regression_learner(0, tmp_path / "fastai")
    expected = reference.lr_find(suggest_funcs=(minimum, steep, valley, slide), show_plot=False)
    learn = synth_regression_learner(0, tmp_path / "widget")
    widget = LRFinderWidget(learn)
    suggestions = widget.run()
    widget.wait(TIMEOUT, chart=True)
    assert suggestions._fields == expected._fields
    assert tuple(suggestions) == tuple(expected)
    assert widget.suggestions == suggestions
    assert widget.lr == expected.valley
    assert widget.status in ("done", "diverged")
    assert not (tmp_path / "widget" / "models").exists()


def test_stop_mid_sweep_keeps_points_and_restores_the_learner(
    comm_recorder: CommRecorder, tmp_path: Path
) -> None:
    learn = synth_regression_learner(1, tmp_path)
    pause = PauseAt(5)  # holds the sweep on its 5th batch until released
    learn.add_cb(pause)
    before, lr_before = _weights(learn), learn.lr
    widget = LRFinderWidget(learn)
    widget.start()  # returns at once
    try:
        assert pause.reached.wait(TIMEOUT)
        assert widget.running
        widget.stop()
    finally:
        pause.release.set()
    sweep = widget.wait(TIMEOUT, chart=True)
    # Stop ends the sweep within one batch: the batch in flight is kept, and no other.
    assert sweep is not None and sweep.status == "stopped"
    assert len(sweep) == 5
    assert "stopped" in control(widget, "lrw-status").value
    assert f'data-points="{len(sweep)}"' in control(widget, "lrw-readout").value
    after = _weights(learn)
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert learn.lr == lr_before
    # Controls still work on the points collected.
    widget.skip_end = 0
    widget.skip_start = 0
    assert widget.analysis is not None and widget.analysis.sweep_length == len(sweep)


def test_second_run_refused_then_a_fresh_sweep(comm_recorder: CommRecorder, tmp_path: Path) -> None:
    learn = synth_regression_learner(2, tmp_path)
    pause = PauseAt(3)
    learn.add_cb(pause)
    widget = LRFinderWidget(learn, num_it=40)
    widget.start()
    try:
        assert pause.reached.wait(TIMEOUT)
        with pytest.raises(RuntimeError, match="Run refused"):
            widget.start()
    finally:
        pause.release.set()
    first = widget.wait(TIMEOUT, chart=True)
    assert first is not None and first.finished
    widget.start()  # the pause is released for good: this sweep runs through
    second = widget.wait(TIMEOUT, chart=True)
    assert second is not first and second is not None
    assert len(second) == len(first)
    assert list(second.lrs) == list(first.lrs)


def test_exception_in_the_model_surfaces(comm_recorder: CommRecorder, tmp_path: Path) -> None:
    set_seed(3)
    learn = synth_learner(model=_FailingModel(), path=tmp_path)
    before = _weights(learn)
    widget = LRFinderWidget(learn)
    widget.start()
    with pytest.raises(FloatingPointError, match="blew up on batch 30"):
        widget.wait(TIMEOUT, chart=True)
    assert widget.status == "failed"
    status = control(widget, "lrw-status").value
    assert "failed" in status and "FloatingPointError: the model blew up on batch 30" in status
    assert 'data-status="failed"' in control(widget, "lrw-readout").value
    after = _weights(learn)
    assert all(torch.equal(before[name], after[name]) for name in before)


def test_apply_sets_the_learners_lr(tmp_path: Path) -> None:
    learn = synth_regression_learner(4, tmp_path)
    widget = LRFinderWidget(learn, num_it=50)
    widget.run()
    widget.wait(TIMEOUT, chart=True)
    lr = widget.apply()
    assert learn.lr == lr == widget.suggestions.valley


def test_constructor_validates_before_anything_runs(tmp_path: Path) -> None:
    learn = synth_regression_learner(5, tmp_path)
    before = _weights(learn)
    with pytest.raises(LRWidgetValueError, match="num_it"):
        LRFinderWidget(learn, num_it=1)
    with pytest.raises(LRWidgetValueError, match="start_lr"):
        LRFinderWidget(learn, start_lr=-1.0)
    with pytest.raises(LRWidgetValueError, match="beta"):
        LRFinderWidget(learn, beta=1.0)
    with pytest.raises(TypeError, match="Learner"):
        LRFinderWidget(object())
    after = _weights(learn)
    assert all(torch.equal(before[name], after[name]) for name in before)
