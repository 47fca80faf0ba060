"""The widget beyond fastai: plain PyTorch (for_torch) and the "rules of" selector."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lrwidget import LRFinderWidget, LRWidgetValueError, Sweep, analyze, presets, run_torch_sweep
from tests.support.comm import CommRecorder, browser_update
from tests.support.engines import synthetic_sweep
from tests.support.torch_models import build

TIMEOUT = 120.0


def _state(case):  # type: ignore[no-untyped-def]
    return {name: value.clone() for name, value in case.model.state_dict().items()}


def test_for_torch_sweeps_live_and_suggests_as_torch_lr_finder(
    comm_recorder: CommRecorder,
) -> None:
    case = build("mlp", seed=3)
    before = _state(case)
    lr_before = [group["lr"] for group in case.optimizer.param_groups]
    widget = LRFinderWidget.for_torch(
        case.model, case.optimizer, case.criterion, case.train_loader, end_lr=10, num_it=40
    )
    assert widget.preset == "torch-lr-finder" and widget.rule_names == ("gradient",)
    widget.run()
    widget.wait(timeout=TIMEOUT, chart=True)
    sweep = widget.sweep
    assert sweep is not None and sweep.status in ("done", "diverged")
    # The same numbers as the headless runner on an identically built case.
    twin = build("mlp", seed=3)
    headless = run_torch_sweep(
        twin.model, twin.optimizer, twin.criterion, twin.train_loader, end_lr=10, num_it=40
    )
    assert np.array_equal(sweep.lrs, headless.lrs) and np.array_equal(sweep.losses, headless.losses)
    expected = analyze(headless, **presets["torch-lr-finder"]).suggestions
    assert widget.suggestions == expected
    # Model and optimizer as they were; apply() sets every param group's lr.
    state = case.model.state_dict()
    assert all(torch.equal(value, state[name]) for name, value in before.items())
    assert [group["lr"] for group in case.optimizer.param_groups] == lr_before
    lr = widget.apply()
    assert all(group["lr"] == lr for group in case.optimizer.param_groups)


def test_the_rules_of_selector_switches_to_each_tools_exact_rules(
    comm_recorder: CommRecorder,
) -> None:
    sweep = synthetic_sweep(200)
    widget = LRFinderWidget.from_sweep(sweep)
    assert widget.preset == "fastai"
    fastai = widget.suggestions
    for name in ("torch-lr-finder", "lightning", "fastai"):
        dropdown = widget.controls.preset_dropdown
        browser_update(dropdown, index=list(dropdown.options).index(name))
        assert widget.preset == name
        settings = dict(presets[name])
        assert widget.suggestions == analyze(sweep, **settings).suggestions
        assert list(widget.controls.rules_select.options) == list(widget.rule_names)
        assert widget.controls.readout_html.value.count("data-rule=") == len(widget.rule_names)
    assert widget.suggestions == fastai


def test_a_peers_smoothed_record_is_not_smoothed_again(comm_recorder: CommRecorder) -> None:
    sweep = synthetic_sweep(120)
    smoothed = Sweep.from_arrays(sweep.lrs, sweep.losses, num_it=120)
    smoothed.losses_are_smoothed, smoothed.preset = True, "lightning"  # as from_lightning sets
    widget = LRFinderWidget.from_sweep(smoothed)
    assert widget.preset == "lightning"
    assert widget.controls.smoothing_dropdown.disabled and widget.controls.beta_slider.disabled
    assert "no further smoothing" in widget.controls.status_html.value


def test_a_bad_preset_is_refused_before_anything_is_built() -> None:
    with pytest.raises(LRWidgetValueError, match="preset must be one of"):
        LRFinderWidget.from_sweep(synthetic_sweep(50), preset="keras")


def test_try_is_offered_on_plain_pytorch(comm_recorder: CommRecorder) -> None:
    case = build("mlp", seed=1)
    widget = LRFinderWidget.for_torch(
        case.model, case.optimizer, case.criterion, case.train_loader, num_it=20
    )
    assert not widget.controls.try_button.disabled  # trials: tests/test_torch_trials.py
