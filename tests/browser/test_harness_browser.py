"""The harness itself, proven on plain ipywidgets + bqplot (no lrwidget): if this fails, the
browser recipe is broken, not the widget."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.browser import jupyter_harness as harness

pytestmark = pytest.mark.browser

PROBE = [
    "import ipywidgets as widgets\n"
    "import bqplot as bq\n"
    "slider = widgets.IntSlider(value=10, min=0, max=100, description='probe')\n"
    "slider.add_class('probe-slider')\n"
    "echo = widgets.HTML('<span data-value=\"10\">10</span>')\n"
    "echo.add_class('probe-echo')\n"
    "slider.observe(lambda change: setattr(echo, 'value',\n"
    "    f'<span data-value=\"{change.new}\">{change.new}</span>'), 'value')\n"
    "x_scale = bq.LogScale(min=1e-7, max=10.0)\n"
    "y_scale = bq.LinearScale()\n"
    "dots = bq.Scatter(x=[1e-5, 1e-3, 1e-1], y=[1.0, 2.0, 3.0],\n"
    "    scales={'x': x_scale, 'y': y_scale})\n"
    "figure = bq.Figure(marks=[dots], axes=[bq.Axis(scale=x_scale, tick_format='.0e'),\n"
    "    bq.Axis(scale=y_scale, orientation='vertical')])\n"
    "figure.add_class('probe-figure')\n"
    "widgets.VBox([slider, echo, figure])",
    "print('kernel sees', slider.value)",
]


@pytest.fixture(scope="module")
def probe_notebook(lab_root: Path) -> str:
    harness.write_notebook(lab_root / "probe.ipynb", PROBE)
    return "probe.ipynb"


def test_lab_renders_widgets_and_sliders_reach_the_kernel(
    open_notebook: Callable[[str], harness.LabNotebook], probe_notebook: str, tmp_path: Path
) -> None:
    notebook = open_notebook(probe_notebook)
    notebook.wait_run(notebook.run_all())
    notebook.wait_for(".probe-figure .bqplot, .probe-figure svg")
    notebook.wait_for(".probe-slider .noUi-handle")

    notebook.drag_slider(".probe-slider", 60)
    # Continuous updates stream intermediate values: wait for the one the slider settled on.
    value = notebook.wait_js(
        "() => { const v = document.querySelector('.probe-echo [data-value]');"
        " const shown = document.querySelector('.probe-slider .widget-readout');"
        " return v && shown && v.dataset.value !== '10'"
        " && v.dataset.value === shown.textContent.trim() && v.dataset.value; }"
    )
    assert int(value) > 10
    assert f"kernel sees {value}" in notebook.run_cell(1)

    # The x axis is read back from the ticks; each dot sits where its value says.
    axis = harness.read_log_x_axis(notebook.page, ".probe-figure")
    centres = notebook.page.evaluate(
        "() => Array.from(document.querySelectorAll('.probe-figure path.dot')).map((d) => {"
        " const r = d.getBoundingClientRect(); return r.x + r.width / 2; })"
    )
    assert len(centres) == 3
    for expected, px in zip([1e-5, 1e-3, 1e-1], sorted(centres), strict=True):
        assert math.isclose(math.log10(axis.to_value(px)), math.log10(expected), abs_tol=0.02)
    shot = notebook.screenshot(tmp_path / "probe.png", ".probe-figure")
    assert shot.stat().st_size > 2000
