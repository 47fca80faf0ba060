"""Text colours reach WCAG AA's 4.5:1 in JupyterLab's light and dark themes (issue #17).

The real-browser check is ``tests/browser/test_looks_browser.py``; this one is the arithmetic
of :mod:`lrwidget._style` and where the chart uses it."""

from __future__ import annotations

import re

import pytest
from ipywidgets.widgets.trait_types import Color

from lrwidget import analyze
from lrwidget._chart import SPAN_FILL_OPACITY, LossChart
from lrwidget._style import (
    DARK_BACKGROUND,
    LIGHT_BACKGROUND,
    SHADING_OPACITY,
    TEXT_HUES,
    contrast_ratio,
    mix,
    rgb,
    text_backgrounds,
    text_color,
    text_share,
    theme_css,
)
from tests.test_view import END_LR, START_LR, bowl, sweep_of, view_of


def test_contrast_ratio_matches_wcag_examples() -> None:
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio((255, 255, 255), (255, 255, 255)) == pytest.approx(1.0)
    # The figures issue #17 measured: steep's orange and minimum's red as they were.
    assert contrast_ratio(rgb("#ff7f0e"), LIGHT_BACKGROUND) == pytest.approx(2.53, abs=0.01)
    assert contrast_ratio(rgb("#d62728"), DARK_BACKGROUND) == pytest.approx(3.76, abs=0.01)


@pytest.mark.parametrize("hue", TEXT_HUES)
def test_every_text_hue_reaches_aa_in_both_themes_and_on_the_shading(hue: str) -> None:
    share = text_share(hue) / 100
    assert share >= 0.5  # still mostly the rule's own hue: recognisable beside its line
    for ink, dark in (((0, 0, 0), False), ((255, 255, 255), True)):
        shown = mix(rgb(hue), ink, share)
        for background in text_backgrounds(dark):
            assert contrast_ratio(shown, background) >= 4.5, (hue, dark, background)


def test_the_shading_checked_is_the_chart_s() -> None:
    assert SHADING_OPACITY == SPAN_FILL_OPACITY


def test_text_colors_are_css_variables_the_stylesheet_defines() -> None:
    css = theme_css()
    for hue in TEXT_HUES:
        color = text_color(hue)
        assert Color().validate(None, color) == color  # bqplot accepts it
        name = re.fullmatch(r"var\((--lrw-text-[0-9a-f]{6}), #[0-9a-f]{6}\)", color)
        assert name is not None, color
        assert f"{name.group(1)}: color-mix(in srgb, {hue} {text_share(hue)}%," in css
    assert css.startswith(".lrw-root {") and "var(--jp-content-font-color0" in css


def test_the_chart_draws_its_labels_in_text_colours() -> None:
    sweep = sweep_of(bowl())
    view = view_of(sweep, analyze(sweep))
    labels = [*view.label_colors, *view.label_left_colors]
    assert labels and all(color.startswith("var(--lrw-text-") for color in labels)
    chart = LossChart(START_LR, END_LR)
    for mark in (chart.span_labels, chart.minimum_label):
        assert all(color.startswith("var(--lrw-text-") for color in mark.colors)
