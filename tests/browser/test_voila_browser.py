"""Smoke test: the widget streams a sweep in Voila (a dashboard, no notebook UI)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.browser import jupyter_harness as harness
from tests.browser import lrw_page

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]


def _quickstart_code() -> dict[str, str]:
    notebook = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    cells = {"imports": str(code[0].source)}
    for cell in code:
        for tag in cell.metadata.get("tags", []):
            cells[tag] = str(cell.source)
    return cells


@pytest.fixture(scope="module")
def voila_server(
    tmp_path_factory: pytest.TempPathFactory, chromium_path: Path
) -> Iterator[harness.Server]:
    """Voila serving a small notebook: the quickstart's learner and widget, a slower sweep."""
    cells = _quickstart_code()
    root = tmp_path_factory.mktemp("voila-root")
    notebook = harness.write_notebook(
        root / "dashboard.ipynb",
        [
            cells["imports"],
            cells["learner"],
            "import time\n"
            "from fastai.callback.core import Callback\n\n\n"
            "class SlowDown(Callback):\n"
            "    def after_batch(self):\n"
            "        time.sleep(0.05)\n\n\n"
            "learn.add_cb(SlowDown())",
            cells["widget"],
        ],
    )
    server = harness.start_voila(notebook, tmp_path_factory.mktemp("voila-state"))
    try:
        yield server
    finally:
        server.stop()


def test_voila_streams_the_sweep(voila_server: harness.Server, page: Any) -> None:
    page.set_default_timeout(harness.DEFAULT_TIMEOUT_MS)
    page.goto(voila_server.url, timeout=harness.DEFAULT_TIMEOUT_MS)
    page.locator(".lrw-figure").first.wait_for(state="visible")
    lrw_page.install_sampler(page)
    final = lrw_page.wait_finished(page)
    assert final["status"] == "done", final
    assert final["points"] == final["dots"] == 100
    # The dots stream with the light updates (the readout follows with the full ones).
    growing = sorted(
        {s["dots"] for s in lrw_page.seen(page) if s["status"] == "running" and s["dots"]}
    )
    assert len(growing) >= 3, growing
    lrw_page.assert_markers_match(page)
