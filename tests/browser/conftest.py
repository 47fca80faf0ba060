"""Fixtures for the real-browser tests: one JupyterLab and one Chromium per session.

Everything lives under pytest's temp dir: the server's root is a copy of ``notebooks/`` plus
the test notebooks the tests write; Jupyter's config/runtime/data/settings/workspace dirs are
private.  See ``jupyter_harness.py`` for the recipe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.browser import jupyter_harness as harness

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so fixtures can screenshot failures."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium, installed with apt when missing (as root)."""
    try:
        return harness.ensure_chromium()
    except harness.BrowserUnavailable as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The JupyterLab root: a temp copy of notebooks/ (tests add their own notebooks)."""
    return harness.copy_tree(NOTEBOOKS, tmp_path_factory.mktemp("lab-root"))


@pytest.fixture(scope="session")
def lab_server(
    lab_root: Path, tmp_path_factory: pytest.TempPathFactory, chromium_path: Path
) -> Iterator[harness.Server]:
    """JupyterLab from the venv on 127.0.0.1 and a free port; stopped with its kernels."""
    server = harness.start_jupyterlab(lab_root, tmp_path_factory.mktemp("lab-state"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[Any]:
    """A headless Chromium (Playwright Browser), shared by the session."""
    with harness.chromium(chromium_path) as launched:
        yield launched


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh browser context and page; screenshots the page into tmp_path on failure."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    new_page = context.new_page()
    try:
        yield new_page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            try:
                new_page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                print(f"failure screenshot: {tmp_path / 'failure.png'}")
            except PlaywrightError as error:  # best effort: diagnostics only
                print(f"could not take a failure screenshot: {error}")
        context.close()


@pytest.fixture
def open_notebook(
    page: Any, lab_server: harness.Server
) -> Iterator[Callable[[str], harness.LabNotebook]]:
    """Open a notebook (path relative to the Lab root); its kernels are shut down after."""

    def opener(path: str) -> harness.LabNotebook:
        return harness.LabNotebook.open(page, lab_server, path)

    try:
        yield opener
    finally:
        lab_server.shutdown_kernels()
