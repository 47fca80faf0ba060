"""lrwidget.analysis: the window, the cut-offs, validation, and fidelity to fastai's lr_find."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrwidget import LRWidgetValueError, Sweep, analyze
from lrwidget.analysis import window_bounds

torch = pytest.importorskip("torch")
schedule = pytest.importorskip("fastai.callback.schedule")

FASTAI_RULES = (schedule.minimum, schedule.steep, schedule.valley, schedule.slide)


def fastai_suggestions(
    lrs: np.ndarray, raw: np.ndarray, num_it: int, funcs: tuple = FASTAI_RULES
) -> tuple | type:
    """What ``learn.lr_find(suggest_funcs=funcs)`` returns for this record: Recorder's
    AvgSmoothLoss on the raw losses, then lr_find's own post-processing, verbatim."""
    value, losses = torch.tensor(0.0), []
    for count, loss in enumerate(raw, start=1):
        value = torch.lerp(torch.tensor(np.float32(loss)), value, 0.98)
        losses.append(value / (1 - 0.98**count))
    lr_list = [float(lr) for lr in lrs]
    window_lrs = torch.tensor(lr_list[num_it // 10 : -5])
    window_losses = torch.tensor(losses[num_it // 10 : -5])
    nan_indices = torch.nonzero(torch.isnan(window_losses.view(-1)))
    if len(nan_indices) > 0:
        drop = min(nan_indices)
        window_lrs, window_losses = window_lrs[:drop], window_losses[:drop]
    try:
        return tuple(func(window_lrs, window_losses, num_it)[0] for func in funcs)
    except (IndexError, RuntimeError, ValueError) as error:
        return type(error)


def schedule_lrs(count: int, num_it: int) -> np.ndarray:
    return np.array([1e-7 * (10 / 1e-7) ** (index / num_it) for index in range(count)])


@st.composite
def sweeps(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    num_it = draw(st.integers(6, 150))
    count = draw(st.integers(1, num_it))  # shorter than num_it: an early stop
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    raw = 2.0 + np.cumsum(rng.standard_normal(count)) * draw(st.sampled_from([0.01, 0.1, 1.0]))
    raw = raw.astype(np.float32).astype(np.float64)
    if draw(st.booleans()):
        raw[draw(st.integers(0, count - 1))] = draw(st.sampled_from([np.nan, np.inf, 0.0]))
    return schedule_lrs(count, num_it), raw, num_it


@settings(max_examples=250, deadline=None)
@given(sweep=sweeps())
def test_default_analysis_equals_fastai_lr_find(sweep: tuple[np.ndarray, np.ndarray, int]) -> None:
    lrs, raw, num_it = sweep
    analysis = analyze(Sweep.from_arrays(lrs, raw, num_it))
    expected = fastai_suggestions(lrs, raw, num_it)
    if isinstance(expected, tuple):
        assert analysis.suggestions == expected
        assert analysis.suggestions._fields == ("minimum", "steep", "valley", "slide")
    else:  # fastai crashes (e.g. slide with < 16 points); we give reasons instead
        assert any(result.reason for result in analysis.rules.values())


@settings(max_examples=60, deadline=None)
@given(sweep=sweeps())
def test_fastai_functions_as_callables_give_the_same_answer(
    sweep: tuple[np.ndarray, np.ndarray, int],
) -> None:
    lrs, raw, num_it = sweep
    record = Sweep.from_arrays(lrs, raw, num_it)
    by_name = analyze(record)
    by_function = analyze(record, methods=FASTAI_RULES)
    for name in ("minimum", "steep", "valley"):
        assert by_name.rules[name].lr == by_function.rules[name].lr
    if by_name.rules["slide"].lr is not None:
        assert by_name.rules["slide"].lr == by_function.rules["slide"].lr
    else:
        assert by_function.rules["slide"].reason is not None


def realistic(count: int = 100, num_it: int = 100, seed: int = 0) -> Sweep:
    rng = np.random.default_rng(seed)
    position = np.linspace(0, 1, count)
    raw = 2.5 - 1.5 * position + 8 * np.clip(position - 0.7, 0, None) ** 2
    raw = raw + 0.05 * rng.standard_normal(count)
    return Sweep.from_arrays(schedule_lrs(count, num_it), raw, num_it)


def test_window_and_spans_default() -> None:
    analysis = analyze(realistic())
    assert analysis.window == (10, 95) and analysis.skip_start == 10
    assert analysis.excluded_spans == ((0, 10, "skip start"), (95, 100, "skip end"))
    assert all(result.reason is None for result in analysis.rules.values())
    for result in analysis.rules.values():
        assert result.index is not None and 10 <= result.index < 95


def test_window_helper_handles_zero_and_overlap() -> None:
    assert window_bounds(12, 3, 0) == (3, 12)
    assert window_bounds(12, 10, 5) == (10, 10)
    assert window_bounds(3, 0, 5) == (0, 0)


def test_empty_window_reason() -> None:
    sweep = Sweep.from_arrays(schedule_lrs(12, 100), np.linspace(2, 1, 12), 100)
    analysis = analyze(sweep)
    assert analysis.window[0] == analysis.window[1]
    assert analysis.rules["valley"].reason == (
        "the window is empty: skip_start=10 and skip_end=5 leave no points of 12"
    )
    assert analysis.suggestions == (None, None, None, None)


def test_slide_reason_with_few_points() -> None:
    analysis = analyze(realistic(count=19, num_it=20), methods=("slide", "valley"))
    assert analysis.rules["slide"].reason == "slide needs at least 16 points in the window; got 12"
    assert analysis.rules["valley"].lr is not None


def test_skip_values_move_the_window() -> None:
    analysis = analyze(realistic(), skip_start=0, skip_end=0)
    assert analysis.window == (0, 100) and analysis.excluded_spans == ()


def test_div_threshold_cuts_at_first_exceeding_point() -> None:
    raw = np.concatenate([np.full(60, 1.0), np.linspace(1, 30, 40)])
    sweep = Sweep.from_arrays(schedule_lrs(100, 100), raw, 100)
    analysis = analyze(sweep, div_threshold=2.0, skip_end=0)
    smoothed = analysis.smoothed
    cut = analysis.divergence_index
    assert cut is not None and analysis.window == (10, cut)
    assert (
        smoothed[cut] > 2 * smoothed[:cut].min()
        and smoothed[cut - 1] <= 2 * smoothed[: cut - 1].min()
    )
    assert (cut, 100, "diverged") in analysis.excluded_spans
    assert analyze(sweep, skip_end=0).divergence_index is None


def test_nan_cut_reports_full_sweep_index() -> None:
    raw = np.linspace(3, 1, 100)
    raw[50] = np.nan
    analysis = analyze(Sweep.from_arrays(schedule_lrs(100, 100), raw, 100))
    assert analysis.nan_index == 50 and analysis.window == (10, 50)
    assert (50, 95, "NaN") in analysis.excluded_spans


def test_centred_smoothing_and_log10_steep() -> None:
    analysis = analyze(realistic(), smoothing="centred")
    assert analysis.smoothing == "centred" and analysis.smoothed.dtype == np.float32
    assert all(result.lr is not None for result in analysis.rules.values())


def test_custom_rule_and_partial_and_failure() -> None:
    def halfway(lrs, losses, num_it):
        return float(lrs[len(lrs) // 2]), (float(lrs[len(lrs) // 2]), float(losses[len(lrs) // 2]))

    def broken(lrs, losses, num_it):
        raise ZeroDivisionError("oops")

    tuned = functools.partial(schedule.slide, lr_diff=5)
    analysis = analyze(realistic(), methods=("valley", halfway, tuned, broken))
    assert analysis.suggestions._fields == ("valley", "halfway", "slide", "broken")
    assert analysis.rules["halfway"].lr is not None and analysis.rules["slide"].lr is not None
    assert analysis.rules["broken"].reason == "broken failed: ZeroDivisionError: oops"


def test_minimum_returned_point() -> None:
    result = analyze(realistic()).rules["minimum"]
    assert result.lr == result.point[0] / 10  # type: ignore[index]
    assert result.returned_point is not None and result.returned_point[0] == result.lr


@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        ("beta", 1.0, "beta must be a finite number with 0 <= beta < 1; got beta=1.0"),
        ("beta", -0.1, "0 <= beta < 1"),
        ("beta", float("nan"), "0 <= beta < 1"),
        ("beta", "0.9", "beta must be a number in \\[0, 1\\)"),
        ("beta", True, "beta must be a number"),
        ("skip_start", -1, "skip_start must be a non-negative integer"),
        ("skip_start", 1.5, "skip_start must be a non-negative integer"),
        ("skip_start", True, "skip_start must be a non-negative integer"),
        ("skip_end", -2, "skip_end must be a non-negative integer.*got -2"),
        ("skip_end", False, "skip_end must be a non-negative integer"),
        ("div_threshold", 1.0, "div_threshold must be a finite number greater than 1"),
        ("div_threshold", float("inf"), "greater than 1"),
        ("div_threshold", "4", "div_threshold must be None or a number greater than 1"),
        ("smoothing", "gaussian", "smoothing must be one of 'ema', 'centred', .*; got 'gaussian'"),
        ("methods", (), "methods must be a non-empty sequence"),
        ("methods", ("valey",), "unknown rule name 'valey'; known names: 'minimum', 'steep'"),
        ("methods", ("valley", "valley"), "names the rule 'valley' twice"),
        ("methods", (3,), "methods entries must be rule names or functions"),
    ],
)
def test_validation_messages(keyword: str, value: object, message: str) -> None:
    with pytest.raises(LRWidgetValueError, match=message):
        analyze(realistic(), **{keyword: value})  # type: ignore[arg-type]


def test_duplicate_callable_and_name_refused() -> None:
    with pytest.raises(LRWidgetValueError, match="twice"):
        analyze(realistic(), methods=("valley", schedule.valley))


def test_not_a_sweep() -> None:
    with pytest.raises(TypeError, match=r"Sweep\.from_arrays"):
        analyze([1, 2, 3])  # type: ignore[arg-type]


def test_cache_follows_growth_and_beta() -> None:
    sweep = Sweep(num_it=50, start_lr=1e-7, end_lr=10)
    for index, lr in enumerate(schedule_lrs(30, 50)):
        sweep.append(float(lr), 2.0 - index * 0.01)
    first = analyze(sweep)
    sweep.append(1.0, 5.0)
    second = analyze(sweep)
    assert len(second.smoothed) == 31 and np.array_equal(second.smoothed[:30], first.smoothed)
    assert not np.array_equal(analyze(sweep, beta=0.5).smoothed, second.smoothed)
