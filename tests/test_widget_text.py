"""What the widget says in words, wherever it is read: the progress text and the readout while
a sweep streams, the readout's look in both themes, the sliders' readouts for screen readers,
and the static views (text and HTML) that non-widget renderers show.

No fastai: ``engine=ReplayEngine(...)`` replays a recorded sweep batch by batch, holding at a
known batch where a test must look mid-sweep.
"""

from __future__ import annotations

import base64
import re
import struct
import threading
from collections.abc import Sequence

import matplotlib
import pytest

from lrwidget import _stream
from lrwidget._stream import Change
from lrwidget._style import format_lr
from lrwidget.sweep import Sweep
from lrwidget.widget import LRFinderWidget
from tests.support.comm import (
    CommRecorder,
    browser_update,
    last_point_sent,
    last_sent,
    wait_until,
)
from tests.support.controls import control
from tests.support.engines import ReplayEngine, synthetic_sweep

NUM_IT = 100
TIMEOUT = 60.0  # generous: a stuck sweep fails the test instead of hanging it


@pytest.fixture
def sweep() -> Sweep:
    return synthetic_sweep(NUM_IT)


# --- item: the first seconds of a sweep -------------------------------------------------------


def test_light_updates_move_the_progress_text_and_the_readout_says_what_is_true(
    comm_recorder: CommRecorder, sweep: Sweep, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every streamed update is a light one here (the full one is never due), as in the first
    # seconds of a real sweep; the sweep holds at batch 30 until the chart shows 30 points.
    monkeypatch.setattr(_stream, "FULL_STREAM_INTERVAL", 1e9)
    engine = ReplayEngine(sweep, delay=0.001, pause_at=30)
    widget = engine.widget()
    progress_text = control(widget, "lrw-progress-text")
    readout = control(widget, "lrw-readout")
    send = widget._stream._send
    streamed: list[int] = []  # the size of each frame the update thread sent

    def counting(frame: Sequence[Change]) -> int:
        if threading.current_thread().name == "lrwidget-update":
            streamed.append(len(frame))
        return send(frame)

    widget._stream._send = counting
    widget.start()
    pause = engine.pauses[30]
    try:
        assert pause.reached.wait(TIMEOUT)
        wait_until(
            lambda: last_point_sent(comm_recorder, widget._chart.raw) == sweep.lrs[29],
            "a light update with the first 30 points",
        )
        text = last_sent(comm_recorder, progress_text, "value")
        assert text.startswith("30 / 100 · ")
        assert f"lr {format_lr(float(sweep.lrs[29]))}" in text
        assert "elapsed" in text and "remaining ~" in text
        # The readout (redrawn by full updates only) does not tell a running sweep to Run.
        shown = last_sent(comm_recorder, readout, "value")
        assert "press Run" not in shown
        assert "sweep running — suggestions at the next full update" in shown
        assert streamed and max(streamed) <= _stream.LIGHT_MESSAGES
    finally:
        pause.release.set()
    widget.wait(TIMEOUT, chart=True)
    assert control(widget, "lrw-progress-text").value.startswith("100 / 100")
    assert "sweep running" not in readout.value


# --- item: the readout's look ---------------------------------------------------------------


def _styles(readout: str, tag: str) -> list[str]:
    """The inline style of every ``tag`` element of the readout, in order."""
    return [
        dict(re.findall(r'([\w-]+)="([^"]*)"', attributes)).get("style", "")
        for attributes in re.findall(rf"<{tag}\b([^>]*)>", readout)
    ]


def test_readout_cells_are_padded_numbers_never_wrap_and_the_selection_follows_the_theme(
    comm_recorder: CommRecorder, sweep: Sweep
) -> None:
    widget = LRFinderWidget.from_sweep(sweep, selected="steep")
    readout = control(widget, "lrw-readout").value
    cells = _styles(readout, "td") + _styles(readout, "th")
    assert cells and all("padding" in style for style in cells)
    # Each rule row: name, LR, loss, what it does; the LR and the loss never wrap.
    for row in re.findall(r"<tr [^>]*data-rule=.*?</tr>", readout):
        name, lr, loss, _what = _styles(row, "td")
        assert "white-space:nowrap" in lr and "white-space:nowrap" in loss
        assert "white-space:nowrap" in name
    assert "rgba(0,0,0" not in readout  # invisible on a dark background
    rows = dict(re.findall(r'<tr [^>]*data-rule="(\w+)"[^>]*style="([^"]*)"', readout))
    assert "var(--jp-layout-color2" in rows["steep"] and "var(--jp-brand-color" in rows["steep"]
    assert "var(--jp-layout-color2" not in rows["valley"]


# --- item: the beta slider's value, as screen readers get it ---------------------------------


def test_the_beta_slider_holds_and_sends_the_value_its_readout_shows(
    comm_recorder: CommRecorder, sweep: Sweep
) -> None:
    widget = LRFinderWidget.from_sweep(sweep)
    slider = control(widget, "lrw-beta")
    # What the browser's slider (noUiSlider) makes of 0.98 on a 0 .. 0.999 range, step
    # 0.001 (value -> percentage -> step -> value in floats), and sends after a drag.
    browser_update(slider, value=0.9800000000000001)
    assert widget.beta == 0.98 and repr(widget.beta) == "0.98"
    # Nothing is written back into the slider the user holds (the handle would jump).
    assert slider.value == 0.9800000000000001
    # A value with float noise set from code is shown at the slider's precision.
    widget.beta = 0.9000000000000001
    assert repr(slider.value) == "0.9"
    assert repr(last_sent(comm_recorder, slider, "value")) == "0.9"


# --- item: static views -----------------------------------------------------------------------

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _embedded_png(page: str) -> bytes:
    found = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(found) == 1, "one embedded PNG"
    return base64.b64decode(found[0], validate=True)


def test_the_mimebundle_after_a_sweep_holds_its_final_state_as_text_html_and_png(
    comm_recorder: CommRecorder, sweep: Sweep
) -> None:
    backend = matplotlib.get_backend()
    widget = ReplayEngine(sweep).widget()
    widget.run()
    widget.wait(TIMEOUT, chart=True)
    bundle = widget._repr_mimebundle_()
    # The live widget is still what JupyterLab draws.
    assert bundle[WIDGET_VIEW]["model_id"] == widget.model_id
    text = bundle["text/plain"]
    assert text.startswith("LRFinderWidget: done, 100 / 100 points")
    answered = {n: r.lr for n, r in widget.analysis.rules.items() if r.lr is not None}
    assert answered
    for name, lr in answered.items():
        assert re.search(rf"^  {name} +{re.escape(format_lr(lr))}", text, re.MULTILINE), name
    assert f"lr = {format_lr(widget.lr)} (valley)" in text
    page = bundle["text/html"]
    assert 'data-status="done"' in page
    for name, lr in answered.items():
        assert f'data-rule="{name}" data-lr="{lr!r}"' in page
    png = _embedded_png(page)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert 300 <= width <= 1000 and 150 <= height <= 600
    assert matplotlib.get_backend() == backend  # drawn on its own Agg canvas
    # The same on demand, as an object a later cell displays (no widget in it).
    view = widget.static_view()
    assert view._repr_mimebundle_() == {"text/plain": text, "text/html": page}
    assert WIDGET_VIEW not in view._repr_mimebundle_()


def test_the_mimebundle_before_a_sweep_says_ready_and_draws_no_chart(
    comm_recorder: CommRecorder, sweep: Sweep
) -> None:
    widget = ReplayEngine(sweep).widget()
    bundle = widget._repr_mimebundle_()
    assert bundle["text/plain"].startswith("LRFinderWidget: ready, 0 / 100 points")
    assert "<img" not in bundle["text/html"]
    assert "ready" in repr(widget)
    widget.run()
    widget.wait(TIMEOUT, chart=True)
    # A repr is computed when asked: it shows the sweep's real state.
    assert "status='done'" in repr(widget) and "points=100" in repr(widget)


def test_hovering_a_dot_pinned_above_the_axis_gives_its_batch_and_loss(
    comm_recorder: CommRecorder,
) -> None:
    lrs = [1e-7 * 1.2**index for index in range(100)]
    losses = [2.0 - 0.01 * index for index in range(60)] + [1.4] * 40
    losses[80] = 40.0  # one batch that blew up, far above the curve
    widget = LRFinderWidget.from_sweep(Sweep.from_arrays(lrs, losses))
    chart = widget._chart
    assert list(chart.above.x) == [lrs[80]]  # pinned at the top edge
    widget._frames._on_point_hover(chart.above, {"data": {"x": lrs[80], "y": chart.above.y[0]}})
    # batches count from 1 in the tooltip, as in the progress text
    tooltip = chart.above.tooltip.value
    assert "batch 81 ·" in tooltip and "raw loss 40 ·" in tooltip
