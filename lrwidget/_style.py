"""How the chart and the readout look: the colours and the number format, in one place.

Lines, dots and swatches use mid-bright hues that show on JupyterLab's light and dark
backgrounds alike (bqplot follows the theme; mark colours do not).  Text needs more: WCAG AA
asks 4.5:1 for 12 px labels, and no one colour reaches it on both white and #111 (a colour
dark enough for white is too dark for #111).  So a label's colour is its line's hue mixed
toward the theme's own text colour (``--jp-content-font-color0``: black in light themes, white
in dark ones) by CSS, as far as it takes to reach 4.6:1 in both themes, also on the shaded
spans (:func:`text_color`, :func:`theme_css`).
"""

from __future__ import annotations

import functools
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

#: The contrast every text colour reaches: WCAG AA's 4.5:1, with a margin for rounding.
TEXT_CONTRAST = 4.6
#: JupyterLab's output backgrounds (``--jp-layout-color0``), light theme then dark theme.
LIGHT_BACKGROUND, DARK_BACKGROUND = (255, 255, 255), (17, 17, 17)
#: The opacity of the excluded spans' fill (the chart's ``SPAN_FILL_OPACITY``): labels may sit
#: on a shaded span, so the text colours are checked there too.
SHADING_OPACITY = 0.18


def rule_color(name: str, order: Sequence[str]) -> str:
    """The colour of a rule: fixed for fastai's four, cycled for custom rules."""
    if name in RULE_COLORS:
        return RULE_COLORS[name]
    extras = [other for other in order if other not in RULE_COLORS]
    index = extras.index(name) if name in extras else 0
    return _EXTRA_COLORS[index % len(_EXTRA_COLORS)]


def relative_luminance(rgb: Sequence[float]) -> float:
    """WCAG 2's relative luminance of an sRGB colour given as r, g, b in 0–255."""

    def linear(channel: float) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in rgb[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(foreground: Sequence[float], background: Sequence[float]) -> float:
    """WCAG 2's contrast ratio of two opaque sRGB colours (r, g, b in 0–255), 1 to 21."""
    lighter, darker = sorted(
        (relative_luminance(foreground), relative_luminance(background)), reverse=True
    )
    return (lighter + 0.05) / (darker + 0.05)


def rgb(color: str) -> tuple[int, int, int]:
    """``"#d62728"`` as ``(214, 39, 40)``."""
    digits = color.lstrip("#")
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def mix(color: Sequence[float], other: Sequence[float], share: float) -> tuple[int, ...]:
    """``share`` of ``color`` and the rest of ``other``, channel by channel in sRGB, as CSS
    ``color-mix(in srgb, color share%, other)`` computes it (rounded)."""
    return tuple(round(share * a + (1 - share) * b) for a, b in zip(color, other, strict=True))


def text_backgrounds(dark: bool) -> list[tuple[int, ...]]:
    """What a chart label may sit on in one theme: the background, and each span's shading."""
    base = DARK_BACKGROUND if dark else LIGHT_BACKGROUND
    shades = [mix(rgb(color), base, SHADING_OPACITY) for color in set(SPAN_COLORS.values())]
    return [base, *shades]


@functools.cache
def text_share(color: str) -> int:
    """The largest share of ``color`` (in percent) that, mixed with black, reads on every
    light background, and, mixed with white, on every dark one (:data:`TEXT_CONTRAST`)."""
    for share in range(100, 0, -1):
        light = mix(rgb(color), (0, 0, 0), share / 100)
        dark = mix(rgb(color), (255, 255, 255), share / 100)
        if all(
            contrast_ratio(shown, background) >= TEXT_CONTRAST
            for shown, backgrounds in (
                (light, text_backgrounds(False)),
                (dark, text_backgrounds(True)),
            )
            for background in backgrounds
        ):
            return share
    return 0


def text_color(color: str) -> str:
    """The colour of text drawn in ``color``'s hue: a CSS variable that
    :func:`theme_css` sets to the hue mixed toward the theme's text colour, falling
    back to the light theme's mix where the stylesheet is missing."""
    fallback = "#" + "".join(
        f"{channel:02x}" for channel in mix(rgb(color), (0, 0, 0), text_share(color) / 100)
    )
    return f"var(--lrw-text-{color.lstrip('#')}, {fallback})"


#: Every colour that is also drawn as text (rule labels, captions, span labels).
TEXT_HUES = (*RULE_COLORS.values(), *_EXTRA_COLORS, CUSTOM_COLOR, BEST_COLOR, SPAN_LABEL_COLOR)
#: The text colours of the chart's fixed labels: the span labels and minimum's caption.
LABEL_TEXT_COLORS: dict[str, str] = {
    "span": text_color(SPAN_LABEL_COLOR),
    "minimum": text_color(RULE_COLORS["minimum"]),
}


#: The skip-end handle's name ends left of the handle (bqplot writes every Scatter name to
#: the right, where "skip end" ran off a 620 px plot); the other Scatters hide their names.
_HANDLE_NAME_CSS = (
    ".lrw-figure .object_grp:last-child > text"
    " {text-anchor: end; transform: translate(-6px, -6px);}"
)


#: bqplot writes a legend's text in its line's colour (the trials' curves: steep's orange on
#: white was 2.5:1); the text takes the theme's colour, the line sample beside it the hue.
_LEGEND_CSS = ".lrw-root .legendtext {fill: var(--jp-ui-font-color1, #333) !important;}"


def theme_css() -> str:
    """The widget's stylesheet: :func:`text_color`'s variables for the theme on screen (any
    JupyterLab theme, Notebook 7, Voila), the skip-end handle's name placement and the
    legends' text colour (shown by ``lrwidget._controls.theme_stylesheet``)."""
    variables = "".join(
        f"--lrw-text-{hue.lstrip('#')}: color-mix(in srgb, {hue} {text_share(hue)}%, "
        "var(--jp-content-font-color0, #000));"
        for hue in dict.fromkeys(TEXT_HUES)
    )
    return f".lrw-root {{{variables}}} {_HANDLE_NAME_CSS} {_LEGEND_CSS}"


def format_lr(lr: float) -> str:
    """An LR with 3 significant digits, as the chart and the readout show it: ``1.23e-03``."""
    return f"{lr:.2e}"
