"""lrwidget: a live Jupyter widget for fastai's learning-rate range test.

The numpy core (:class:`Sweep`, :func:`analyze`) is imported eagerly and pulls in
nothing heavier than numpy; the fastai adapter (:func:`run_sweep`) and the widget
(:class:`LRFinderWidget`) are imported on first use, so ``import lrwidget`` stays
light and the core can be used without fastai, torch or ipywidgets installed.

Example:
    >>> from lrwidget import LRFinderWidget   # doctest: +SKIP
    >>> w = LRFinderWidget(learn); w          # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrwidget._errors import LRWidgetValueError, LRWidgetWarning, SweepRunningError
from lrwidget.analysis import Analysis, RuleResult, analyze
from lrwidget.peers import PRESETS as presets
from lrwidget.sweep import Sweep

if TYPE_CHECKING:
    from lrwidget._fastai import run_sweep
    from lrwidget._torch import run_torch_sweep
    from lrwidget._torch_trials import run_torch_trials
    from lrwidget._trial_record import Trial
    from lrwidget._trials import run_trials
    from lrwidget.widget import LRFinderWidget

__all__ = [
    "Analysis",
    "LRFinderWidget",
    "LRWidgetValueError",
    "LRWidgetWarning",
    "RuleResult",
    "Sweep",
    "SweepRunningError",
    "Trial",
    "analyze",
    "presets",
    "run_sweep",
    "run_torch_sweep",
    "run_torch_trials",
    "run_trials",
]

__version__ = "0.1.0"

_LAZY = {
    "run_sweep": "lrwidget._fastai",
    "run_torch_sweep": "lrwidget._torch",
    "run_torch_trials": "lrwidget._torch_trials",
    "run_trials": "lrwidget._trials",
    "Trial": "lrwidget._trial_record",  # no fastai: plain-PyTorch trials make them too
    "LRFinderWidget": "lrwidget.widget",
}


def __getattr__(name: str) -> Any:
    # The adapter needs fastai/torch and the widget needs ipywidgets/bqplot: load them
    # only when asked for, so the numpy core never drags them in.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lrwidget' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
