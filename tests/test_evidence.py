"""RuleResult.evidence: each rule's evidence equals the values fastai's own rule computes.

Nothing here re-implements a rule.  The oracle is fastai's installed source itself, run with
each ``return`` rewritten to also hand back the function's local variables (``max_start``,
``max_end``, ``idx``, ``grads``, ``l_idx``, ``r_idx``, ``loss_grad``, ...): see
:func:`fastai_with_locals`.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
import textwrap
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrwidget import RuleResult, Sweep, analyze, suggest

torch = pytest.importorskip("torch")
schedule = pytest.importorskip("fastai.callback.schedule")
from tests.test_analysis import schedule_lrs, sweeps  # noqa: E402  (imports torch and fastai)
from tests.test_suggest import adversarial_losses, curves, fastai_lrs  # noqa: E402

Locals = dict[str, Any]


# --- the oracle: fastai's own code, instrumented ----------------------------------------------
class _ReturnLocalsToo(ast.NodeTransformer):
    """``return value`` -> ``return value, locals()``."""

    def visit_Return(self, node: ast.Return) -> ast.Return:
        call = ast.Call(func=ast.Name(id="locals", ctx=ast.Load()), args=[], keywords=[])
        both = ast.Tuple(elts=[node.value or ast.Constant(None), call], ctx=ast.Load())
        return ast.copy_location(ast.Return(value=both), node)


@functools.cache
def fastai_with_locals(rule: Callable[..., Any]) -> Callable[..., tuple[Any, Locals]]:
    """fastai's own ``rule``, compiled from its installed source (THIS IS FASTAI'S CODE, not
    a copy: ``inspect.getsource``), returning ``(its answer, its local variables)``."""
    lines, first_line = inspect.getsourcelines(rule)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    ast.increment_lineno(tree, first_line - 1)  # warnings and tracebacks point into fastai
    definition = tree.body[0]
    assert isinstance(definition, ast.FunctionDef) and not definition.decorator_list
    tree = ast.fix_missing_locations(_ReturnLocalsToo().visit(tree))
    namespace = dict(vars(schedule))  # fastai's module globals: np, to_np, ...
    exec(compile(tree, inspect.getsourcefile(rule) or "<fastai>", "exec"), namespace)
    return namespace[rule.__name__]  # type: ignore[no-any-return]


def tensors(*arrays: np.ndarray) -> tuple[Any, ...]:
    """float32 tensors, as ``lr_find`` hands its window to the rules."""
    return tuple(torch.from_numpy(np.array(array, dtype=np.float32)) for array in arrays)


def bits_equal(ours: np.ndarray, theirs: np.ndarray) -> bool:
    """Same float32 bits everywhere (signed zeros included), any NaN equal to any NaN."""
    if ours.dtype != np.float32 or theirs.dtype != np.float32 or ours.shape != theirs.shape:
        return False
    nan = np.isnan(ours)
    return bool(
        np.array_equal(nan, np.isnan(theirs))
        and np.array_equal(ours[~nan].view(np.int32), theirs[~nan].view(np.int32))
    )


def no_suggestion(call: Callable[[], object]) -> bool:
    try:
        call()
    except suggest.NoSuggestion:
        return True
    return False


# --- each rule's evidence against fastai's locals, on the rule functions ----------------------
def check_valley(lrs: np.ndarray, losses: np.ndarray) -> None:
    lr, _, evidence = suggest.valley_explained(lrs, losses, 100)
    answer, local = fastai_with_locals(schedule.valley)(*tensors(lrs, losses), 100)
    assert evidence["stretch"] == (local["max_start"], local["max_end"])
    assert evidence["index"] == local["idx"]
    assert lr == answer[0] == float(lrs[evidence["index"]])


def check_steep(lrs: np.ndarray, losses: np.ndarray) -> None:
    lr, _, evidence = suggest.steep_explained(lrs, losses, 100)
    answer, local = fastai_with_locals(schedule.steep)(*tensors(lrs, losses), 100)
    assert bits_equal(evidence["slope"], local["grads"].numpy())
    assert np.array_equal(evidence["slope"], local["grads"].numpy(), equal_nan=True)
    assert evidence["index"] == int(local["grads"].argmin())
    assert lr == answer[0] == float(lrs[evidence["index"]])


def check_minimum(lrs: np.ndarray, losses: np.ndarray) -> None:
    lr, _, evidence = suggest.minimum_explained(lrs, losses, 100)
    lr_tensor, loss_tensor = tensors(lrs, losses)
    answer, local = fastai_with_locals(schedule.minimum)(lr_tensor, loss_tensor, 100)
    lowest = int(loss_tensor.argmin())
    assert evidence["index"] == lowest and evidence["divisor"] == 10
    lowest_lr, lowest_loss = evidence["lowest"]
    assert lowest_lr == local["lr_min"] and lr == answer[0] == lowest_lr / evidence["divisor"]
    theirs = float(loss_tensor[lowest])
    assert lowest_loss == theirs or (math.isnan(lowest_loss) and math.isnan(theirs))


def check_slide(
    lrs: np.ndarray, losses: np.ndarray, lr_diff: int = 15, thresh: float = 0.005
) -> None:
    oracle = fastai_with_locals(schedule.slide)
    try:
        answer, local = oracle(*tensors(lrs, losses), 100, lr_diff=lr_diff, thresh=thresh)
    except (IndexError, ValueError):  # too few points: we give a reason instead
        assert no_suggestion(lambda: suggest.slide_explained(lrs, losses, 100, lr_diff, thresh))
        return
    lr, _, evidence = suggest.slide_explained(lrs, losses, 100, lr_diff, thresh)
    count = len(losses)
    assert evidence["window"] == (count + local["l_idx"], count + local["r_idx"])
    assert bits_equal(evidence["gradient"], local["loss_grad"])
    assert evidence["thresh"] == local["thresh"] and evidence["lr_diff"] == local["lr_diff"]
    assert float(lrs[evidence["index"]]) == float(local["local_min_lr"])
    assert lr == answer[0] and evidence["adjust_value"] == 1.0


@settings(max_examples=300, deadline=None)
@given(losses=adversarial_losses(max_size=40))
def test_valley_stretch_and_index_are_fastais(losses: np.ndarray) -> None:
    """Ties, plateaus, NaN, +-inf, monotone runs (valley's -1 and 0 cases) and sawtooths."""
    lrs = fastai_lrs(len(losses), max(len(losses), 1))
    if len(losses) == 0:
        assert no_suggestion(lambda: suggest.valley_explained(lrs, losses, 100))
    else:
        check_valley(lrs, losses)


@settings(max_examples=200, deadline=None)
@given(curve=curves())
def test_valley_evidence_on_curves(curve: tuple[np.ndarray, np.ndarray]) -> None:
    check_valley(*curve)


@pytest.mark.parametrize(
    ("losses", "stretch", "index"),
    [
        ([5.0, 4.0, 3.0, 2.0, 1.0], (-1, 4), 0),  # all falling: the run starts at index 0
        ([1.0, 2.0, 3.0, 4.0], (0, 0), 0),  # all rising: nothing decreases
        ([2.0, 2.0, 2.0], (0, 0), 0),  # flat: ties never decrease
        ([7.0], (0, 0), 0),  # one point
        ([2.0, 1.0, 3.0, 4.0], (-1, 1), -1),  # fastai's -1: the last point
        ([3.0, 1.0, 3.0, 2.0, 1.0], (1, 4), 2),  # the first longest run ends at 4
    ],
)
def test_valley_known_stretches(losses: list[float], stretch: tuple[int, int], index: int) -> None:
    array = np.array(losses, dtype=np.float32)
    lrs = fastai_lrs(len(array), len(array))
    evidence = suggest.valley_explained(lrs, array, 10)[2]
    assert evidence["stretch"] == stretch and evidence["index"] == index
    check_valley(lrs, array)


@settings(max_examples=300, deadline=None)
@given(curve=curves())
def test_steep_slope_is_fastais_grads_bit_for_bit(curve: tuple[np.ndarray, np.ndarray]) -> None:
    lrs, losses = curve
    if len(losses) < 2:  # fastai's argmin of an empty grads raises
        assert no_suggestion(lambda: suggest.steep_explained(lrs, losses, 100))
    else:
        check_steep(lrs, losses)


@settings(max_examples=200, deadline=None)
@given(curve=curves(), nan_at=st.none() | st.integers(0, 39))
def test_minimum_evidence_is_fastais(
    curve: tuple[np.ndarray, np.ndarray], nan_at: int | None
) -> None:
    lrs, losses = curve
    if nan_at is not None and nan_at < len(losses):
        losses = losses.copy()
        losses[nan_at] = np.nan
    check_minimum(lrs, losses)


@settings(max_examples=300, deadline=None)
@given(
    curve=curves(min_size=1, max_size=60),
    lr_diff=st.sampled_from([1, 2, 5, 15]),
    thresh=st.sampled_from([0.0, 0.005, 0.05, 1.0]),
    nan_at=st.none() | st.integers(0, 59),
)
def test_slide_window_gradient_and_thresh_are_fastais(
    curve: tuple[np.ndarray, np.ndarray], lr_diff: int, thresh: float, nan_at: int | None
) -> None:
    lrs, losses = curve
    if nan_at is not None and nan_at < len(losses):
        losses = losses.copy()
        losses[nan_at] = np.nan
    check_slide(lrs, losses, lr_diff, thresh)


def test_slide_window_edges() -> None:
    """The loop stops at once (``r_idx == -1``) or runs off the start (``l_idx == -n - 1``)."""
    count = 30
    lrs = fastai_lrs(count, count)
    straight = np.linspace(3, 1, count).astype(np.float32)
    assert suggest.slide_explained(lrs, straight, count)[2]["window"] == (count - 16, count - 1)
    check_slide(lrs, straight)
    curving = (np.arange(count, dtype=np.float32) ** 3 / 100).astype(np.float32)
    assert suggest.slide_explained(lrs, curving, count)[2]["window"] == (-1, 14)
    check_slide(lrs, curving)
    assert no_suggestion(lambda: suggest.slide_explained(lrs[:15], straight[:15], count))


# --- through analyze: the window it picked, NaN cuts, empty windows ----------------------------
def window_arrays(analysis: Any) -> tuple[np.ndarray, np.ndarray]:
    start, stop = analysis.window
    return analysis.lrs[start:stop], analysis.smoothed[start:stop]


CHECKS = {"minimum": check_minimum, "steep": check_steep, "valley": check_valley}


@settings(max_examples=80, deadline=None)
@given(sweep=sweeps(), skip_start=st.none() | st.integers(0, 20), skip_end=st.integers(0, 6))
def test_analyze_evidence_is_fastais_on_the_analysed_window(
    sweep: tuple[np.ndarray, np.ndarray, int], skip_start: int | None, skip_end: int
) -> None:
    """Random walks with NaN, inf or 0 at a random batch (NaN cuts the window), any cut-offs."""
    lrs, raw, num_it = sweep
    analysis = analyze(
        Sweep.from_arrays(lrs, raw, num_it), skip_start=skip_start, skip_end=skip_end
    )
    window_lrs, window_losses = window_arrays(analysis)
    for name, result in analysis.rules.items():
        if result.lr is None:  # empty window, or slide with fewer than 16 points
            assert result.evidence == {} and result.reason
            continue
        if name == "slide":
            check_slide(window_lrs, window_losses)
        else:
            CHECKS[name](window_lrs, window_losses)
        assert result.evidence.keys() == rule_evidence(name, window_lrs, window_losses).keys()


def rule_evidence(name: str, lrs: np.ndarray, losses: np.ndarray) -> Any:
    return suggest.EXPLAINED_RULES[name](lrs, losses, 100)[2]


def test_analyze_evidence_values_equal_the_rule_functions() -> None:
    raw = np.concatenate([np.linspace(3, 1, 60), np.linspace(1, 6, 40)])
    raw[80] = np.nan  # cuts the window at 80
    analysis = analyze(Sweep.from_arrays(schedule_lrs(100, 100), raw, 100))
    assert analysis.window == (10, 80)
    window_lrs, window_losses = window_arrays(analysis)
    for name, result in analysis.rules.items():
        expected = rule_evidence(name, window_lrs, window_losses)
        assert result.evidence.keys() == expected.keys()
        for key, value in expected.items():
            if isinstance(value, np.ndarray):
                assert bits_equal(result.evidence[key], value)
            else:
                assert result.evidence[key] == value
        check = check_slide if name == "slide" else CHECKS[name]
        check(window_lrs, window_losses)


class Log10Tensor(torch.Tensor):
    """A tensor whose ``log()`` is float64 log10 rounded to float32: fastai's steep on it is
    steep against log10(lr), the centred mode's rule."""

    def log(self) -> Any:  # type: ignore[override]
        values = self.detach().numpy().astype(np.float64)
        return torch.from_numpy(np.log10(values).astype(np.float32))


def test_centred_steep_evidence_is_the_log10_slope() -> None:
    rng = np.random.default_rng(5)
    raw = np.linspace(3, 1, 100) + 0.05 * rng.standard_normal(100)
    analysis = analyze(Sweep.from_arrays(schedule_lrs(100, 100), raw, 100), smoothing="centred")
    window_lrs, window_losses = window_arrays(analysis)
    result = analysis.rules["steep"]
    lr_tensor, loss_tensor = tensors(window_lrs, window_losses)
    answer, local = fastai_with_locals(schedule.steep)(
        lr_tensor.as_subclass(Log10Tensor), loss_tensor, 100
    )
    assert bits_equal(result.evidence["slope"], local["grads"].numpy())
    assert result.evidence["index"] == int(local["grads"].argmin())
    assert result.lr == answer[0] == float(window_lrs[result.evidence["index"]])
    natural = suggest.steep_explained(window_lrs, window_losses, 100)[2]["slope"]
    assert not np.array_equal(result.evidence["slope"], natural)  # not the ln(lr) slopes


def test_no_answer_means_no_evidence() -> None:
    empty = analyze(Sweep.from_arrays(schedule_lrs(12, 100), np.linspace(2, 1, 12), 100))
    short = analyze(Sweep.from_arrays(schedule_lrs(19, 20), np.linspace(2, 1, 19), 20))
    assert all(result.evidence == {} for result in empty.rules.values())
    assert short.rules["slide"].lr is None and short.rules["slide"].evidence == {}
    assert short.rules["valley"].lr is not None and short.rules["valley"].evidence
    check_valley(*window_arrays(short))


# --- the mapping, the protocol for custom rules, compatibility ---------------------------------
def realistic_sweep() -> Sweep:
    rng = np.random.default_rng(0)
    position = np.linspace(0, 1, 100)
    raw = 2.5 - 1.5 * position + 8 * np.clip(position - 0.7, 0, None) ** 2
    return Sweep.from_arrays(schedule_lrs(100, 100), raw + 0.05 * rng.standard_normal(100), 100)


def test_evidence_is_read_only() -> None:
    analysis = analyze(realistic_sweep())
    for result in analysis.rules.values():
        assert isinstance(result.evidence, MappingProxyType) and result.evidence
        with pytest.raises(TypeError):
            result.evidence["index"] = 0  # type: ignore[index]
        for value in result.evidence.values():
            if isinstance(value, np.ndarray):
                with pytest.raises(ValueError, match="read-only"):
                    value[0] = 0.0
    assert isinstance(analysis.rules["valley"].evidence["stretch"], tuple)
    assert isinstance(analysis.rules["slide"].evidence["window"], tuple)


def test_custom_rules_evidence_protocol() -> None:
    given_evidence = {"halfway": 0}

    def explained(lrs: np.ndarray, losses: np.ndarray, num_it: int) -> tuple[Any, ...]:
        middle = len(lrs) // 2
        given_evidence["halfway"] = middle
        return float(lrs[middle]), (float(lrs[middle]), float(losses[middle])), given_evidence

    def plain(lrs: np.ndarray, losses: np.ndarray, num_it: int) -> tuple[Any, ...]:
        return float(lrs[0]), (float(lrs[0]), float(losses[0]))

    def bad(lrs: np.ndarray, losses: np.ndarray, num_it: int) -> tuple[Any, ...]:
        return float(lrs[0]), (float(lrs[0]), float(losses[0])), [1, 2]

    analysis = analyze(realistic_sweep(), methods=(explained, plain, bad, schedule.valley))
    rules = analysis.rules
    assert dict(rules["explained"].evidence) == {"halfway": 42} and rules["explained"].lr
    given_evidence["halfway"] = -1  # the result holds a copy
    assert rules["explained"].evidence["halfway"] == 42
    with pytest.raises(TypeError):
        rules["explained"].evidence["halfway"] = 0  # type: ignore[index]
    assert rules["plain"].lr is not None and rules["plain"].evidence == {}
    assert rules["valley"].lr is not None and rules["valley"].evidence == {}  # fastai's own
    assert rules["bad"].lr is None and rules["bad"].evidence == {}
    assert rules["bad"].reason is not None
    assert "evidence" in rules["bad"].reason and "must be a mapping" in rules["bad"].reason


def test_fastai_signature_is_kept() -> None:
    """The public rules still return fastai's 2-tuple, the explained ones's first two parts."""
    lrs = fastai_lrs(40, 40)
    losses = np.linspace(3, 1, 40).astype(np.float32)
    for name, rule in suggest.RULES.items():
        plain = rule(lrs, losses, 40)
        assert len(plain) == 2 and plain == suggest.EXPLAINED_RULES[name](lrs, losses, 40)[:2]
    assert (
        suggest.steep_log10(lrs, losses, 40) == suggest.steep_log10_explained(lrs, losses, 40)[:2]
    )


def test_rule_result_default_evidence_and_equality() -> None:
    old_style = RuleResult("valley", 1e-3, (1e-3, 2.0), 5, None, "why")
    assert old_style.evidence == {} and isinstance(old_style.evidence, MappingProxyType)
    with_evidence = RuleResult(
        "valley", 1e-3, (1e-3, 2.0), 5, None, "why", None, MappingProxyType({"index": 5})
    )
    assert with_evidence == old_style  # evidence is not compared (its arrays would not ==)
    steep = analyze(realistic_sweep()).rules["steep"]
    assert steep == analyze(realistic_sweep()).rules["steep"]
