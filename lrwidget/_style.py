"""How the chart and the readout look: the colours and the number format, in one place.

Every colour must read on JupyterLab's light and dark backgrounds alike (bqplot follows the
theme; mark colours do not): mid-bright hues, no near-black or near-white.
"""

from __future__ import annotations

from collections.abc import Sequence

RULE_COLORS: dict[str, str] = {
    "minimum": "#d62728",
    "steep": "#ff7f0e",
    "valley": "#2ca02c",
    "slide": "#9467bd",
}
_EXTRA_COLORS = ("#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
CUSTOM_COLOR = "#708090"
BEST_COLOR = "#d4a017"  # the best trial's ring and highlight
SPAN_COLORS: dict[str, str] = {
    "skip start": "#8c8c8c",
    "skip end": "#8c8c8c",
    "diverged": "#d62728",
    "NaN": "#9467bd",
}
SPAN_LABEL_COLOR = "#8c8c8c"
HANDLE_COLOR = "#8c8c8c"
RAW_COLOR = "#8dbbe6"
SMOOTHED_COLOR = "#2f83d4"


def rule_color(name: str, order: Sequence[str]) -> str:
    """The colour of a rule: fixed for fastai's four, cycled for custom rules."""
    if name in RULE_COLORS:
        return RULE_COLORS[name]
    extras = [other for other in order if other not in RULE_COLORS]
    index = extras.index(name) if name in extras else 0
    return _EXTRA_COLORS[index % len(_EXTRA_COLORS)]


def format_lr(lr: float) -> str:
    """An LR with 3 significant digits, as the chart and the readout show it: ``1.23e-03``."""
    return f"{lr:.2e}"
