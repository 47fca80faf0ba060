"""The rules of torch-lr-finder and PyTorch Lightning, as presets of :func:`lrwidget.analyze`.

:data:`PRESETS` maps a tool's name to the keyword arguments of ``analyze`` that reproduce that
tool's suggestion exactly (``==``) from the same sweep::

    analyze(sweep, **PRESETS["torch-lr-finder"])   # = LRFinder.plot(suggest_lr=True)[1]
    analyze(sweep, **PRESETS["lightning"])         # = lr_finder.suggestion()

* ``"fastai"``: fastai's ``lr_find`` (lrwidget's defaults): debiased float32 EMA with
  ``beta=0.98``, window ``[num_it // 10 : -5]``, rules minimum, steep, valley and slide.
* ``"torch-lr-finder"`` (0.2.2): ``range_test`` smooths *as it records*, ``f * loss + (1 - f)
  * previous`` with ``smooth_f=0.05``, an EMA that is not debiased, in float64
  (:func:`lrwidget.smoothing.ema_plain`; our ``beta`` is the weight of the previous value,
  ``1 - smooth_f = 0.95``).  ``plot(suggest_lr=True)`` drops 10 points at the start and 5 at the
  end and suggests the lr at the argmin of ``np.gradient(losses)``, a gradient *per batch*
  (rule ``"gradient"``).  For a run made with ``smooth_f=0`` use ``smoothing="none"``.
* ``"lightning"`` (2.6): ``_LRCallback`` keeps ``avg = beta * avg + (1 - beta) * loss`` in
  float64 and records ``avg / (1 - beta**(k + 1))`` for the k-th batch, debiased one power
  late (:func:`lrwidget.smoothing.lightning`; ``beta=0.98`` means what it means in fastai).
  ``suggestion(skip_begin=10, skip_end=1)`` keeps the finite points of that window and
  suggests the lr at the argmin of ``torch.gradient(losses, spacing=[lrs])`` in float32, a
  gradient against the *learning rate* (rule ``"lightning"``).

Both peers return the learning rate as they recorded it (a float64), not rounded to float32 as
fastai's rules do: their rules get the sweep's own learning rates (:data:`RECORDED_LR_RULES`).
Known difference: ``analyze`` ends the window at the first NaN loss (fastai's rule); after a NaN
torch-lr-finder's smoothed curve stays NaN and its ``np.gradient`` points at the NaN, so with a
NaN loss in the window its answer differs.  Lightning drops non-finite points, as here.

:func:`from_torch_lr_finder` and :func:`from_lightning` open a finished run of either tool as a
:class:`~lrwidget.sweep.Sweep` with that tool's preset recorded (``sweep.preset``).  Both tools
keep only smoothed losses (torch-lr-finder unless ``smooth_f=0``): such a sweep says so
(``sweep.losses_are_smoothed``) and ``analyze`` then takes its losses as the curve, whatever
``smoothing`` says, so nothing is smoothed twice.

Importing this module adds the two rules to :mod:`lrwidget.suggest`'s tables (``RULES``,
``EXPLAINED_RULES``, ``EXPLANATIONS``), where ``Settings.check`` and ``analyze`` find them;
:mod:`lrwidget.analysis` imports it.  numpy only: no fastai, torch, ipywidgets or bqplot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from lrwidget import suggest as _suggest
from lrwidget._errors import LRWidgetValueError
from lrwidget.suggest import DEFAULT_RULES, Explained, NoSuggestion, Point
from lrwidget.sweep import Sweep

__all__ = [
    "PRESETS",
    "RECORDED_LR_RULES",
    "from_lightning",
    "from_torch_lr_finder",
    "gradient",
    "lightning",
]

PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "fastai": MappingProxyType(
            {
                "smoothing": "ema",
                "beta": 0.98,
                "skip_start": None,
                "skip_end": 5,
                "div_threshold": None,
                "methods": DEFAULT_RULES,
            }
        ),
        "torch-lr-finder": MappingProxyType(
            {
                "smoothing": "ema-plain",
                "beta": 0.95,
                "skip_start": 10,
                "skip_end": 5,
                "div_threshold": None,
                "methods": ("gradient",),
            }
        ),
        "lightning": MappingProxyType(
            {
                "smoothing": "lightning",
                "beta": 0.98,
                "skip_start": 10,
                "skip_end": 1,
                "div_threshold": None,
                "methods": ("lightning",),
            }
        ),
    }
)

#: Rules that return the learning rate as recorded (float64), as the peers do.
RECORDED_LR_RULES = frozenset({"gradient", "lightning"})


# --- the rules ------------------------------------------------------------------------------------
def _evidence(**values: Any) -> Mapping[str, Any]:
    for value in values.values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return MappingProxyType(values)


def gradient_explained(lrs: Any, losses: Any, num_it: int) -> Explained:
    """torch-lr-finder's suggestion: the lr where ``np.gradient(losses)`` (per batch, in
    float64) is lowest; ties go to the first, a NaN gradient wins (numpy's argmin).

    Evidence: ``gradient`` (float64 array, one per point of the window) and ``index`` (its
    argmin, into the window).
    """
    lr_values = np.asarray(lrs).reshape(-1)
    loss_values = np.asarray(losses, dtype=np.float64).reshape(-1)
    if len(loss_values) < 2:
        raise NoSuggestion(
            f"gradient needs at least 2 points in the window; got {len(loss_values)}"
        )
    with np.errstate(invalid="ignore", over="ignore"):
        slopes = np.gradient(loss_values)
    index = int(np.argmin(slopes))
    lr = float(lr_values[index])
    return lr, (lr, float(loss_values[index])), _evidence(gradient=slopes, index=index)


def gradient(lrs: Any, losses: Any, num_it: int) -> tuple[float, Point]:
    """:func:`gradient_explained` without the evidence (fastai's rule signature)."""
    lr, point, _ = gradient_explained(lrs, losses, num_it)
    return lr, point


def _torch_gradient32(values: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
    """``torch.gradient(values, spacing=[coordinates])[0]`` for 1-D float32 input, bit for bit:
    second-order differences inside (ATen's ``a * f[:-2] + b * f[1:-1] + c * f[2:]``, each
    operation rounded to float32), first-order ones at both ends."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        steps = coordinates[1:] - coordinates[:-1]
        left, right = steps[:-1], steps[1:]
        before = -right / (left * (left + right))
        middle = (right - left) / (left * right)
        after = left / (right * (left + right))
        centre = before * values[:-2] + middle * values[1:-1] + after * values[2:]
        first = (values[1:2] - values[0:1]) / steps[0:1]
        last = (values[-1:] - values[-2:-1]) / steps[-1:]
    return np.concatenate([first, centre, last])


def lightning_explained(lrs: Any, losses: Any, num_it: int) -> Explained:
    """Lightning's ``suggestion()``: over the finite points of the window, the lr where
    ``torch.gradient(losses, spacing=[lrs])`` (float32, against the lr) is lowest.

    Evidence: ``finite`` (indices into the window of the points kept), ``gradient`` (float32,
    one per kept point) and ``index`` (the chosen point, into the window).
    """
    lr_values = np.asarray(lrs).reshape(-1)
    with np.errstate(over="ignore"):
        losses32 = np.asarray(losses).reshape(-1).astype(np.float32)
        lrs32 = lr_values.astype(np.float32)
    finite = np.flatnonzero(np.isfinite(losses32))
    if len(finite) < 2:
        raise NoSuggestion(
            f"lightning needs at least 2 points with a finite loss in the window; got {len(finite)}"
        )
    slopes = _torch_gradient32(losses32[finite], lrs32[finite])
    index = int(finite[int(np.argmin(slopes))])
    lr = float(lr_values[index])
    evidence = _evidence(finite=finite, gradient=slopes, index=index)
    return lr, (lr, float(np.asarray(losses).reshape(-1)[index])), evidence


def lightning(lrs: Any, losses: Any, num_it: int) -> tuple[float, Point]:
    """:func:`lightning_explained` without the evidence (fastai's rule signature)."""
    lr, point, _ = lightning_explained(lrs, losses, num_it)
    return lr, point


# suggest.py holds fastai's rules and is at the size limit of a module: register here.
_suggest.RULES.update(gradient=gradient, lightning=lightning)
_suggest.EXPLAINED_RULES.update(gradient=gradient_explained, lightning=lightning_explained)
_suggest.EXPLANATIONS.update(
    gradient="where the smoothed loss falls fastest from one batch to the next (torch-lr-finder)",
    lightning="where the smoothed loss falls fastest against the learning rate (Lightning)",
)


# --- opening a peer's finished run ----------------------------------------------------------------
def _recorded(source: object, owner: str, field: str) -> tuple[list[float], list[float]]:
    """``(lrs, losses)`` from a peer's record ``source`` (``finder.history`` or
    ``lr_finder.results``), checked: two lists of numbers of the same non-zero length."""
    if not isinstance(source, Mapping) or "lr" not in source or "loss" not in source:
        raise LRWidgetValueError(
            f"{owner}.{field} must be a dict with 'lr' and 'loss' lists; got {source!r:.80}. "
            f"Pass the object after its run has finished."
        )
    lrs, losses = list(source["lr"]), list(source["loss"])
    if len(lrs) != len(losses) or not lrs:
        raise LRWidgetValueError(
            f"{owner}.{field} must hold one loss per learning rate, at least one; got "
            f"{len(lrs)} learning rates and {len(losses)} losses. Run the range test first."
        )
    return [float(lr) for lr in lrs], [float(loss) for loss in losses]


def _schedule_of(lrs: list[float]) -> str:
    """``"linear"`` when the learning rates rise by equal steps, else ``"exp"``."""
    steps = np.diff(np.asarray(lrs))
    if len(steps) >= 2 and np.allclose(steps, steps[0], rtol=1e-6, atol=0.0):
        return "linear"
    return "exp"


def from_torch_lr_finder(
    finder: Any, *, smooth_f: float = 0.05, step_mode: str | None = None
) -> Sweep:
    """A :class:`Sweep` of a finished ``torch_lr_finder.LRFinder`` run (``finder.history``).

    Args:
        finder: The ``LRFinder`` after ``range_test``.
        smooth_f: The ``smooth_f`` that run used (its default 0.05): with ``smooth_f > 0``
            torch-lr-finder kept only the smoothed losses, and the sweep says so
            (``losses_are_smoothed``).  ``0`` means the losses are raw.
        step_mode: ``"exp"`` or ``"linear"``, as passed to ``range_test``; None works it out
            from the learning rates (equal steps mean linear).

    Returns:
        A finished Sweep with ``preset == "torch-lr-finder"``: ``analyze(sweep,
        **PRESETS[sweep.preset])`` equals ``finder.plot(suggest_lr=True)[1]``.

    Raises:
        LRWidgetValueError: for a finder without a finished run, or a bad ``smooth_f`` or
            ``step_mode``.
    """
    if (
        isinstance(smooth_f, bool)
        or not isinstance(smooth_f, int | float)
        or not (0 <= smooth_f < 1)
    ):
        raise LRWidgetValueError(
            f"smooth_f must be a number in [0, 1), the one range_test used; got "
            f"smooth_f={smooth_f!r}. Pass e.g. smooth_f=0.05 (torch-lr-finder's default)."
        )
    if step_mode not in (None, "exp", "linear"):
        raise LRWidgetValueError(
            f"step_mode must be 'exp', 'linear' or None; got step_mode={step_mode!r}. Pass the "
            "step_mode given to range_test, or None to work it out from the learning rates."
        )
    lrs, losses = _recorded(getattr(finder, "history", None), "finder", "history")
    sweep = Sweep.from_arrays(lrs, losses)
    sweep.schedule = step_mode or _schedule_of(lrs)
    sweep.preset = "torch-lr-finder"
    sweep.losses_are_smoothed = smooth_f > 0
    return sweep


def from_lightning(lr_finder: Any) -> Sweep:
    """A :class:`Sweep` of a finished Lightning run (what ``Tuner(trainer).lr_find`` returned).

    Lightning keeps only its smoothed losses, so ``losses_are_smoothed`` is True and
    ``analyze(sweep, **PRESETS[sweep.preset])`` equals ``lr_finder.suggestion()``.

    Raises:
        LRWidgetValueError: for an object without a finished run's ``results``.
    """
    lrs, losses = _recorded(getattr(lr_finder, "results", None), "lr_finder", "results")
    requested = getattr(lr_finder, "num_training", None)
    num_it = requested if isinstance(requested, int) and requested >= len(lrs) else len(lrs)
    start, end = getattr(lr_finder, "lr_min", lrs[0]), getattr(lr_finder, "lr_max", lrs[-1])
    usable = all(isinstance(lr, int | float) and math.isfinite(lr) for lr in (start, end))
    sweep = Sweep.from_arrays(
        lrs, losses, num_it, start_lr=start if usable else None, end_lr=end if usable else None
    )
    sweep.schedule = "linear" if getattr(lr_finder, "mode", None) == "linear" else "exp"
    sweep.preset = "lightning"
    sweep.losses_are_smoothed = True
    return sweep
