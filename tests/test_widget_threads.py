"""LRFinderWidget with real (tiny) fastai Learners: the background thread end to end.

Stop mid-sweep, a second Run refused, an exception in the model surfacing through the status
and ``wait()``, and the default suggestions equal to fastai's own ``lr_find`` on the same seed.
Every Learner gets ``path=tmp_path`` so nothing fastai writes lands in the repository.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import torch
from fastai.callback.core import Callback
from fastai.callback.schedule import minimum, slide, steep, valley
from fastai.test_utils import RegModel, synth_learner
from fastai.torch_core import set_seed

from lrwidget._errors import LRWidgetValueError
from lrwidget.widget import LRFinderWidget
from tests.support.comm import CommRecorder, drawn
from tests.support.learners import synth_regression_learner

pytestmark = pytest.mark.fastai


class _SlowBatches(Callback):
    """Makes each batch take a few milliseconds, so a test can act mid-sweep."""

    def after_batch(self) -> None:
        time.sleep(0.004)


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


def _wait_for_points(widget: LRFinderWidget, count: int, timeout: float = 10.0) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        sweep = widget.sweep
        if sweep is not None and len(sweep) >= count:
            return
        time.sleep(0.002)
    raise AssertionError(f"the sweep never reached {count} points")


def test_default_suggestions_equal_fastai_lr_find(tmp_path: Path) -> None:
    reference = synth_regression_learner(0, tmp_path / "fastai")
    expected = reference.lr_find(suggest_funcs=(minimum, steep, valley, slide), show_plot=False)
    learn = synth_regression_learner(0, tmp_path / "widget")
    widget = LRFinderWidget(learn)
    suggestions = widget.run()
    drawn(widget)
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
    learn.add_cb(_SlowBatches())
    before, lr_before = _weights(learn), learn.lr
    widget = LRFinderWidget(learn)
    widget.start()  # returns at once
    assert widget.running
    _wait_for_points(widget, 5)
    stopped_at = time.perf_counter()
    widget.stop()
    sweep = widget.wait(timeout=10)
    drawn(widget)
    assert time.perf_counter() - stopped_at < 2.0
    assert sweep is not None and sweep.status == "stopped"
    assert 5 <= len(sweep) < 100
    assert "stopped" in widget._status_html.value
    assert f'data-points="{len(sweep)}"' in widget._readout_html.value
    after = _weights(learn)
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert learn.lr == lr_before
    # Controls still work on the points collected.
    widget.skip_end = 0
    widget.skip_start = 0
    assert widget.analysis is not None and widget.analysis.sweep_length == len(sweep)


def test_second_run_refused_then_a_fresh_sweep(comm_recorder: CommRecorder, tmp_path: Path) -> None:
    learn = synth_regression_learner(2, tmp_path)
    learn.add_cb(_SlowBatches())
    widget = LRFinderWidget(learn, num_it=40)
    widget.start()
    with pytest.raises(RuntimeError, match="already running"):
        widget.start()
    first = widget.wait(timeout=20)
    drawn(widget)
    assert first is not None and first.finished
    widget.start()
    second = widget.wait(timeout=20)
    drawn(widget)
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
        widget.wait(timeout=20)
    drawn(widget)
    assert widget.status == "failed"
    status = widget._status_html.value
    assert "failed" in status and "FloatingPointError: the model blew up on batch 30" in status
    assert 'data-status="failed"' in widget._readout_html.value
    after = _weights(learn)
    assert all(torch.equal(before[name], after[name]) for name in before)


def test_apply_sets_the_learners_lr(tmp_path: Path) -> None:
    learn = synth_regression_learner(4, tmp_path)
    widget = LRFinderWidget(learn, num_it=50)
    widget.run()
    drawn(widget)
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
