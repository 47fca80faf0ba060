"""lrwidget.presets: the rules of torch-lr-finder and PyTorch Lightning, each exact (``==``).

The references are the installed packages themselves: torch-lr-finder 0.2.2's ``range_test``
and ``plot(suggest_lr=True)``, Lightning's ``Tuner.lr_find`` and ``suggestion()``, and, for many
synthetic curves, Lightning's own ``_LRCallback`` and ``_LRFinder.suggestion`` and
torch-lr-finder's own ``plot``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lrwidget
from lrwidget import (
    LRWidgetValueError,
    Sweep,
    analyze,
    presets,
    run_torch_sweep,
    smoothing,
    suggest,
)
from lrwidget.settings import Settings
from tests.support.torch_models import MODELS, build

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")  # nothing is shown
import matplotlib.pyplot as plt  # noqa: E402

torch_lr_finder = pytest.importorskip("torch_lr_finder")
pl = pytest.importorskip("pytorch_lightning")
from pytorch_lightning.tuner.lr_finder import _LRCallback, _LRFinder  # noqa: E402

pytestmark = [
    pytest.mark.peers,
    pytest.mark.filterwarnings("ignore:`max_epochs` was not set"),
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
]
logging.getLogger("pytorch_lightning").setLevel(logging.CRITICAL)  # its "not enough points"


# --- the presets and their names ---------------------------------------------------------------
def test_presets_name_each_tool_and_cannot_be_changed() -> None:
    assert set(presets) == {"fastai", "torch-lr-finder", "lightning"}
    assert presets["torch-lr-finder"]["smoothing"] == "ema-plain"
    assert presets["torch-lr-finder"]["beta"] == 0.95  # smooth_f = 0.05
    assert smoothing.smooth_f_of(0.95) == 0.05 != 1 - 0.95
    assert (presets["lightning"]["skip_start"], presets["lightning"]["skip_end"]) == (10, 1)
    with pytest.raises(TypeError):
        presets["fastai"]["beta"] = 0.9  # type: ignore[index]
    assert lrwidget.presets is presets


def test_fastai_preset_is_todays_default() -> None:
    lrs = [1e-7 * 1.2**index for index in range(100)]
    sweep = Sweep.from_arrays(lrs, [2.5 - index / 70 + (index / 80) ** 6 for index in range(100)])
    assert analyze(sweep, **presets["fastai"]).suggestions == analyze(sweep).suggestions


def test_new_names_are_known_where_settings_and_analyze_look() -> None:
    for name in ("gradient", "lightning"):
        assert name in suggest.RULES and name in suggest.EXPLAINED_RULES
        assert name in suggest.EXPLANATIONS
    for preset in presets.values():
        Settings(**preset).check()  # accepted as they are
    with pytest.raises(LRWidgetValueError, match="'ema-plain', 'lightning', 'none'"):
        Settings(smoothing="plain").check()


# --- torch-lr-finder ---------------------------------------------------------------------------
def quiet(function: Any, *arguments: Any, **options: Any) -> Any:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return function(*arguments, **options)


def plot_suggestion(finder: Any) -> float:
    """``finder.plot(suggest_lr=True)``'s suggested lr, drawn on an Agg figure."""
    figure, axes = plt.subplots()
    try:
        with np.errstate(invalid="ignore"):  # its np.gradient across infinite losses
            _, lr = quiet(finder.plot, ax=axes, suggest_lr=True)
    finally:
        plt.close(figure)
    return float(lr)


@pytest.mark.parametrize("step_mode", ["exp", "linear"])
@pytest.mark.parametrize("name", MODELS)
def test_torch_lr_finder_preset_equals_its_plot(name: str, step_mode: str) -> None:
    options = {"start_lr": 1e-5, "end_lr": 1 if step_mode == "exp" else 0.3, "num_iter": 60}
    case = build(name, seed=11)
    finder = torch_lr_finder.LRFinder(case.model, case.optimizer, case.criterion)
    quiet(finder.range_test, case.train_loader, step_mode=step_mode, **options)
    expected = plot_suggestion(finder)

    case = build(name, seed=11)
    options["num_it"] = options.pop("num_iter")
    sweep = run_torch_sweep(
        case.model,
        case.optimizer,
        case.criterion,
        case.train_loader,
        step_mode=step_mode,
        **options,
    )
    assert smoothing.ema_plain(sweep.losses, 0.95).tolist() == finder.history["loss"]
    assert analyze(sweep, **presets["torch-lr-finder"]).suggestions.gradient == expected
    opened = Sweep.from_torch_lr_finder(finder)
    assert (opened.preset, opened.losses_are_smoothed, opened.schedule) == (
        "torch-lr-finder",
        True,
        step_mode,
    )
    assert analyze(opened, **presets[opened.preset]).suggestions.gradient == expected


def test_a_torch_lr_finder_run_without_smoothing() -> None:
    case = build("mlp", seed=12)
    finder = torch_lr_finder.LRFinder(case.model, case.optimizer, case.criterion)
    quiet(finder.range_test, case.train_loader, start_lr=1e-5, end_lr=1, num_iter=50, smooth_f=0)
    opened = Sweep.from_torch_lr_finder(finder, smooth_f=0)
    assert not opened.losses_are_smoothed  # raw losses: any smoothing may be applied
    unsmoothed = {**presets["torch-lr-finder"], "smoothing": "none"}
    assert analyze(opened, **unsmoothed).suggestions.gradient == plot_suggestion(finder)


@pytest.fixture(scope="module")
def finder_for_plots() -> Any:
    case = build("mlp")
    return torch_lr_finder.LRFinder(case.model, case.optimizer, case.criterion)


def smoothed_curves(min_size: int) -> st.SearchStrategy[tuple[list[float], list[float]]]:
    """(lrs, smoothed losses): noisy LR-finder shapes, with plateaus and infinities."""

    @st.composite
    def curve(draw: st.DrawFn) -> tuple[list[float], list[float]]:
        count = draw(st.integers(min_size, 120))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        position = np.linspace(0, 1, count)
        losses = 2.5 - position + 5 * np.clip(position - 0.7, 0, None) ** 2
        losses = np.round(losses + draw(st.sampled_from([0.0, 0.01, 0.3])) * rng.random(count), 3)
        if draw(st.booleans()):
            losses[draw(st.integers(0, count - 1)) :] = np.inf  # a diverged smoothed curve
        linear = draw(st.booleans())
        lrs = np.linspace(1e-4, 1, count) if linear else 1e-6 * (1e6 ** (np.arange(count) / count))
        return lrs.tolist(), losses.tolist()

    return curve()


@settings(max_examples=60, deadline=None)
@given(curve=smoothed_curves(min_size=17))
def test_gradient_rule_equals_torch_lr_finder_plot(
    curve: tuple[list[float], list[float]], finder_for_plots: Any
) -> None:
    lrs, losses = curve
    finder_for_plots.history = {"lr": lrs, "loss": losses}
    sweep = Sweep.from_torch_lr_finder(finder_for_plots)
    assert analyze(sweep, **presets["torch-lr-finder"]).suggestions.gradient == plot_suggestion(
        finder_for_plots
    )


def test_gradient_rule_needs_two_points_as_torch_lr_finder_does() -> None:
    sweep = Sweep.from_arrays([1e-3 * 2**index for index in range(16)], [1.0] * 16)
    result = analyze(sweep, **presets["torch-lr-finder"]).rules["gradient"]
    assert (
        result.lr is None
        and result.reason == "gradient needs at least 2 points in the window; got 1"
    )


# --- Lightning ---------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(curve=smoothed_curves(min_size=2), nan_from=st.one_of(st.none(), st.integers(0, 130)))
def test_lightning_rule_equals_its_suggestion(
    curve: tuple[list[float], list[float]], nan_from: int | None
) -> None:
    lrs, losses = curve
    if nan_from is not None:  # Lightning's smoothed curve stays NaN once it is NaN
        losses = losses[:nan_from] + [math.nan] * len(losses[nan_from:])
    finder = _LRFinder("exponential", lrs[0], lrs[-1], len(lrs))
    finder.results = {"lr": lrs, "loss": losses}
    sweep = Sweep.from_lightning(finder)
    assert analyze(sweep, **presets["lightning"]).suggestions.lightning == finder.suggestion()


@settings(max_examples=60, deadline=None)
@given(
    raw=st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=80),
    beta=st.sampled_from([0.98, 0.9, 0.5, 0.0]),
)
def test_lightning_smoothing_equals_its_callback(raw: list[float], beta: float) -> None:
    """Lightning's own _LRCallback, driven as its Trainer drives it (global_step = k)."""
    callback = _LRCallback(num_training=len(raw), early_stop_threshold=None, beta=beta)
    trainer = SimpleNamespace(
        fit_loop=SimpleNamespace(batch_idx=0),
        accumulate_grad_batches=1,
        should_stop=False,
        strategy=SimpleNamespace(broadcast=lambda value: value),
    )
    for step, loss in enumerate(raw, start=1):
        trainer.global_step = step
        callback.on_train_batch_end(trainer, None, {"loss": torch.tensor(loss)}, None, step - 1)
    assert smoothing.lightning(raw, beta).tolist() == callback.losses


class LightningDigits(pl.LightningModule):
    """A small MLP on the digits that remembers every raw training loss."""

    def __init__(self, case: Any) -> None:
        super().__init__()
        self.net, self.lr, self.raw = case.model, 1e-3, []
        self.criterion = case.criterion

    def training_step(self, batch: Any, index: int) -> torch.Tensor:
        inputs, labels = batch
        loss = self.criterion(self.net(inputs), labels)
        self.raw.append(loss.item())
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)


@pytest.mark.parametrize("mode", ["exponential", "linear"])
def test_lightning_preset_equals_a_real_lr_find(mode: str, tmp_path: Path) -> None:
    case = build("dropout", seed=13)
    module = LightningDigits(case)
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    options = {"min_lr": 1e-5, "max_lr": 1.0 if mode == "exponential" else 0.05}
    tuner = pl.tuner.Tuner(trainer)
    found = quiet(tuner.lr_find, module, case.train_loader, num_training=60, mode=mode, **options)
    expected = found.suggestion()
    assert expected is not None
    lrs, smoothed = found.results["lr"], found.results["loss"]
    raw = module.raw[: len(lrs)]
    assert smoothing.lightning(raw, 0.98).tolist() == smoothed
    assert analyze(Sweep.from_arrays(lrs, raw), **presets["lightning"]).suggestions == (expected,)
    opened = Sweep.from_lightning(found)
    assert opened.losses_are_smoothed and opened.preset == "lightning"
    assert opened.schedule == ("exp" if mode == "exponential" else "linear")
    assert analyze(opened, **presets[opened.preset]).suggestions.lightning == expected


# --- sweeps that are already smoothed -----------------------------------------------------------
def peer_sweep() -> Sweep:
    finder = _LRFinder("linear", 1e-4, 1.0, 30)
    finder.results = {
        "lr": np.linspace(1e-4, 1, 30).tolist(),
        "loss": [3 - i / 20 for i in range(30)],
    }
    return Sweep.from_lightning(finder)


@pytest.mark.parametrize("smoothing_name", smoothing.SMOOTHINGS)
def test_smoothed_losses_are_never_smoothed_again(smoothing_name: str) -> None:
    sweep = peer_sweep()
    analysis = analyze(sweep, **{**presets["lightning"], "smoothing": smoothing_name})
    assert analysis.smoothed.tolist() == sweep.losses.tolist()


def test_origin_is_saved_loaded_and_kept_by_frozen(tmp_path: Path) -> None:
    sweep = peer_sweep()
    sweep.save(tmp_path / "peer.json")
    for copy in (Sweep.load(tmp_path / "peer.json"), sweep.frozen()):
        assert (copy.schedule, copy.preset, copy.losses_are_smoothed) == (
            "linear",
            "lightning",
            True,
        )
    plain = Sweep.from_arrays([1e-3, 1e-2], [2.0, 1.0])
    plain.save(tmp_path / "plain.json")
    document = json.loads((tmp_path / "plain.json").read_text())
    for key in ("schedule", "preset", "losses_are_smoothed"):
        del document[key]  # a file written before these keys existed
    (tmp_path / "old.json").write_text(json.dumps(document))
    old = Sweep.load(tmp_path / "old.json")
    assert (old.schedule, old.preset, old.losses_are_smoothed) == ("exp", None, False)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("schedule", "cosine", "schedule must be 'exp' or 'linear'"),
        ("preset", ["lightning"], "preset must be a short string or null"),
        ("losses_are_smoothed", "yes", "losses_are_smoothed must be true or false"),
    ],
)
def test_a_file_with_a_bad_origin_is_refused(
    key: str, value: Any, message: str, tmp_path: Path
) -> None:
    Sweep.from_arrays([1e-3, 1e-2], [2.0, 1.0]).save(tmp_path / "sweep.json")
    document = json.loads((tmp_path / "sweep.json").read_text())
    document[key] = value
    (tmp_path / "sweep.json").write_text(json.dumps(document))
    with pytest.raises(LRWidgetValueError, match=message):
        Sweep.load(tmp_path / "sweep.json")


def test_opening_something_that_has_not_run_is_refused() -> None:
    with pytest.raises(LRWidgetValueError, match=r"finder\.history must be a dict"):
        Sweep.from_torch_lr_finder(object())
    finder = SimpleNamespace(history={"lr": [], "loss": []})
    with pytest.raises(LRWidgetValueError, match="Run the range test first"):
        Sweep.from_torch_lr_finder(finder)
    with pytest.raises(LRWidgetValueError, match="smooth_f must be a number in"):
        Sweep.from_torch_lr_finder(
            SimpleNamespace(history={"lr": [1.0], "loss": [1.0]}), smooth_f=1
        )
    with pytest.raises(LRWidgetValueError, match=r"lr_finder\.results must be a dict"):
        Sweep.from_lightning(SimpleNamespace(results=None))
