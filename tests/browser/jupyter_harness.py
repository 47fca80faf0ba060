"""Real-browser harness: JupyterLab, Notebook 7 or Voila from the venv, driven by Debian Chromium.

Shared by ``tests/browser/conftest.py`` and ``benchmarks/bench_browser_latency.py``.
Nothing here imports pytest, so the benchmark can use it as a plain module.

The recipe (measured, see DESIGN.md §4):

* Chromium is Debian's ``/usr/bin/chromium`` (installed with apt when missing and we are root);
  Playwright only drives it.  ``playwright install`` is never used: it downloads a browser.
* The servers bind 127.0.0.1 on a free port, without a token or password, with every Jupyter
  directory (config, runtime, data, settings, workspaces, IPython) private under a temp dir,
  so a test run neither reads nor writes the user's Jupyter state.
* Cells run through ``window.jupyterapp.commands`` (``--LabApp.expose_app_in_browser``), and every
  wait polls a condition in the page: nothing sleeps for a fixed time.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
)
VENV_BIN = Path(sys.executable).parent
# Generous: the suite must pass on a loaded 2-core machine.
SERVER_START_TIMEOUT_S = 180.0
DEFAULT_TIMEOUT_MS = 120_000
POLL_MS = 200


class BrowserUnavailable(RuntimeError):
    """Chromium is missing and this process may not install it (not root)."""


def ensure_chromium() -> Path:
    """Return the path of Debian's Chromium, installing it with apt when missing.

    Raises:
        BrowserUnavailable: Chromium is missing and we are not root, so apt cannot install it.
        subprocess.CalledProcessError: apt failed (as root this is an error, not a skip).
    """
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0:
        raise BrowserUnavailable(
            f"{CHROMIUM} is missing and this user (uid {os.geteuid()}) cannot install it; "
            "run `apt-get install -y chromium` as root (never `playwright install`)."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "chromium"],
        check=True,
        env=env,
        capture_output=True,
    )
    if not CHROMIUM.exists():
        raise RuntimeError(f"apt-get installed chromium but {CHROMIUM} does not exist")
    return CHROMIUM


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def private_env(base: Path) -> dict[str, str]:
    """Environment for a Jupyter server whose state lives entirely under ``base``."""
    env = dict(os.environ)
    dirs = {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTERLAB_SETTINGS_DIR": "settings",
        "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
        "IPYTHONDIR": "ipython",
        "MPLCONFIGDIR": "matplotlib",
        "FASTAI_HOME": "fastai",
    }
    for name, sub in dirs.items():
        path = base / sub
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("JUPYTER_PATH", None)
    return env


def _write_lab_settings(settings_dir: Path) -> None:
    """Settings that make Lab deterministic: every cell in the DOM, no news, no update checks."""
    files = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/apputils-extension/themes.jupyterlab-settings": {"theme": "JupyterLab Light"},
    }
    for relative, content in files.items():
        path = settings_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Server:
    """A Jupyter (Lab or Voila) server process started by this harness."""

    process: subprocess.Popen[bytes]
    url: str
    port: int
    log_path: Path
    root_dir: Path

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's combined stdout/stderr, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def api(self, method: str, path: str) -> Any:
        """Call the Jupyter REST API (no token: the server runs without one)."""
        request = urllib.request.Request(self.url + path.lstrip("/"), method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Shut down every kernel of this server (frees the CPUs between tests)."""
        with contextlib.suppress(urllib.error.URLError, OSError):
            for session in self.api("GET", "api/sessions"):
                with contextlib.suppress(urllib.error.URLError, OSError):
                    self.api("DELETE", f"api/sessions/{session['id']}")
            for kernel in self.api("GET", "api/kernels"):
                with contextlib.suppress(urllib.error.URLError, OSError):
                    self.api("DELETE", f"api/kernels/{kernel['id']}")

    def stop(self) -> None:
        """Terminate the server and its kernels (its own process group), then reap it."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def _spawn(command: Sequence[str], env: dict[str, str], cwd: Path, log_path: Path) -> Any:
    log = log_path.open("wb")
    try:
        return subprocess.Popen(
            list(command),
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() ends kernels too
        )
    finally:
        log.close()


def _wait_ready(server: Server, probe: Any, what: str) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with code {server.process.returncode}:\n{server.log_tail()}"
            )
        if probe():
            return
        time.sleep(0.25)
    server.stop()
    raise TimeoutError(
        f"{what} not ready after {SERVER_START_TIMEOUT_S:.0f} s:\n{server.log_tail()}"
    )


def start_jupyterlab(root_dir: Path, state_dir: Path) -> Server:
    """Start JupyterLab from this venv on 127.0.0.1, serving ``root_dir``; wait for /api/status."""
    env = private_env(state_dir)
    _write_lab_settings(Path(env["JUPYTERLAB_SETTINGS_DIR"]))
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--ServerApp.root_dir={root_dir}",
        f"--LabApp.user_settings_dir={env['JUPYTERLAB_SETTINGS_DIR']}",
        f"--LabApp.workspaces_dir={env['JUPYTERLAB_WORKSPACES_DIR']}",
    ]
    server = Server(
        process=_spawn(command, env, root_dir, state_dir / "jupyterlab.log"),
        url=f"http://127.0.0.1:{port}/",
        port=port,
        log_path=state_dir / "jupyterlab.log",
        root_dir=root_dir,
    )
    _wait_ready(server, lambda: _http_ok(server.url + "api/status"), "JupyterLab")
    return server


def start_notebook7(root_dir: Path, state_dir: Path) -> Server:
    """Start Jupyter Notebook 7 from this venv on 127.0.0.1, serving ``root_dir``, with the
    same private state and settings as :func:`start_jupyterlab`; wait for /api/status.
    Open a notebook with ``LabNotebook.open(page, server, path, notebook7=True)``."""
    env = private_env(state_dir)
    _write_lab_settings(Path(env["JUPYTERLAB_SETTINGS_DIR"]))
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "notebook",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
        f"--ServerApp.root_dir={root_dir}",
        f"--JupyterNotebookApp.user_settings_dir={env['JUPYTERLAB_SETTINGS_DIR']}",
        f"--JupyterNotebookApp.workspaces_dir={env['JUPYTERLAB_WORKSPACES_DIR']}",
    ]
    server = Server(
        process=_spawn(command, env, root_dir, state_dir / "notebook7.log"),
        url=f"http://127.0.0.1:{port}/",
        port=port,
        log_path=state_dir / "notebook7.log",
        root_dir=root_dir,
    )
    _wait_ready(server, lambda: _http_ok(server.url + "api/status"), "Jupyter Notebook 7")
    return server


def start_voila(notebook: Path, state_dir: Path) -> Server:
    """Start Voila from this venv on 127.0.0.1 for one notebook; wait until the port answers.

    Only the port is probed: requesting ``/`` would already execute the notebook.
    """
    env = private_env(state_dir)
    port = free_port()
    command = [
        str(VENV_BIN / "voila"),
        str(notebook),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        "--show_tracebacks=True",
    ]
    server = Server(
        process=_spawn(command, env, notebook.parent, state_dir / "voila.log"),
        url=f"http://127.0.0.1:{port}/",
        port=port,
        log_path=state_dir / "voila.log",
        root_dir=notebook.parent,
    )
    _wait_ready(server, lambda: _port_open(port), "Voila")
    return server


@contextlib.contextmanager
def chromium(executable: Path) -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright (sync API); closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


def write_notebook(path: Path, cells: Sequence[str | tuple[str, str]]) -> Path:
    """Write a notebook of code cells (or ``("markdown", text)`` pairs) with the python3 kernel."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    for cell in cells:
        if isinstance(cell, tuple):
            notebook.cells.append(nbformat.v4.new_markdown_cell(cell[1]))
        else:
            notebook.cells.append(nbformat.v4.new_code_cell(cell))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


# JavaScript run in the page.  `window.__lrw` is (re)defined by an init script on every load.
_INIT_SCRIPT = r"""
window.__lrw = {
  panel(path) {
    const app = window.jupyterapp;
    if (!app) return null;
    for (const widget of app.shell.widgets('main')) {
      if (widget.context && widget.context.path === path) return widget;
    }
    return null;
  },
  kernelIdle(path) {
    const panel = this.panel(path);
    if (!panel || !panel.sessionContext || !panel.content || !panel.content.widgets.length)
      return false;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
  },
  outputs(path, index) {
    const cell = this.panel(path).content.widgets[index];
    return cell.model.outputs ? cell.model.outputs.toJSON() : [];
  },
  runs: {},
};
"""


class PageError(AssertionError):
    """A notebook cell raised, or a condition in the page never became true."""


class LabNotebook:
    """One notebook opened in JupyterLab in a Playwright page, with helpers to drive it."""

    def __init__(self, page: Any, server: Server, path: str) -> None:
        self.page = page
        self.server = server
        self.path = path

    # -- opening and running -------------------------------------------------------------
    @classmethod
    def open(cls, page: Any, server: Server, path: str, *, notebook7: bool = False) -> LabNotebook:
        """Open ``path`` (relative to the server root) in a fresh workspace; wait for the kernel.
        With ``notebook7``, in Notebook 7's notebook page (a :func:`start_notebook7` server)."""
        page.add_init_script(_INIT_SCRIPT)
        page.set_default_timeout(DEFAULT_TIMEOUT_MS)
        workspace = f"lrw-{uuid.uuid4().hex[:8]}"
        if notebook7:
            page.goto(f"{server.url}notebooks/{path}")
        else:
            page.goto(f"{server.url}lab/workspaces/{workspace}/tree/{path}")
        notebook = cls(page, server, path)
        notebook.wait_js("(path) => window.__lrw.kernelIdle(path)", path)
        page.evaluate(
            "(path) => window.jupyterapp.shell.activateById(window.__lrw.panel(path).id)", path
        )
        return notebook

    def wait_js(self, expression: str, arg: Any = None, timeout_ms: float | None = None) -> Any:
        """Poll a JS function (every 200 ms) until it returns a truthy value; return that value."""
        handle = self.page.wait_for_function(
            expression,
            arg=arg,
            polling=POLL_MS,
            timeout=DEFAULT_TIMEOUT_MS if timeout_ms is None else timeout_ms,
        )
        return handle.json_value()

    def cell_count(self) -> int:
        """Number of cells in the notebook."""
        return int(
            self.page.evaluate(
                "(path) => window.__lrw.panel(path).content.widgets.length", self.path
            )
        )

    def _start(self, command: str, index: int | None) -> str:
        key = uuid.uuid4().hex
        self.page.evaluate(
            """async ([path, command, index, key]) => {
                const panel = window.__lrw.panel(path);
                window.jupyterapp.shell.activateById(panel.id);
                if (index !== null) {
                  panel.content.activeCellIndex = index;
                  panel.content.deselectAll();
                }
                window.__lrw.runs[key] = 'running';
                window.jupyterapp.commands.execute(command).then(
                  (ok) => { window.__lrw.runs[key] = ok === false ? 'failed' : 'ok'; },
                  (err) => { window.__lrw.runs[key] = 'error: ' + err; });
            }""",
            [self.path, command, index, key],
        )
        return key

    def run_all(self) -> str:
        """Start 'Run All Cells'; returns a key for :meth:`wait_run`. Does not wait."""
        return self._start("notebook:run-all-cells", None)

    def run_above(self, index: int) -> str:
        """Start running every cell above cell ``index``; returns a key for :meth:`wait_run`."""
        return self._start("notebook:run-all-above", index)

    def execute(self, code: str, index: int = -1, timeout_ms: float | None = None) -> str:
        """Replace the source of cell ``index`` (default: the last, a scratch cell), run it
        and return its text output."""
        count = self.cell_count()
        position = index % count
        self.page.evaluate(
            "([path, i, code]) => window.__lrw.panel(path).content.widgets[i]"
            ".model.sharedModel.setSource(code)",
            [self.path, position, code],
        )
        return self.run_cell(position, timeout_ms=timeout_ms)

    def set_theme(self, theme: str) -> None:
        """Switch JupyterLab's theme (e.g. 'JupyterLab Dark') and wait until it is applied."""
        self.page.evaluate(
            "(theme) => window.jupyterapp.commands.execute('apputils:change-theme', {theme})",
            theme,
        )
        light = "false" if "Dark" in theme else "true"
        self.wait_js(f"() => document.body.dataset.jpThemeLight === '{light}'")

    def run_cell(self, index: int, *, wait: bool = True, timeout_ms: float | None = None) -> str:
        """Run cell ``index``; by default wait until it finished and return its text output."""
        key = self._start("notebook:run-cell", index)
        if not wait:
            return key
        self.wait_run(key, timeout_ms)
        return self.output_text(index)

    def wait_run(self, key: str, timeout_ms: float | None = None) -> None:
        """Wait until a run started by :meth:`run_all`/:meth:`run_cell` finished; fail on errors."""
        state = self.wait_js(
            "(key) => window.__lrw.runs[key] !== 'running' && window.__lrw.runs[key]",
            key,
            timeout_ms,
        )
        self.wait_js("(path) => window.__lrw.kernelIdle(path)", self.path, timeout_ms)
        self.raise_cell_errors()
        if state != "ok":
            raise PageError(f"run of {self.path} ended with {state!r}")

    def outputs(self, index: int) -> list[dict[str, Any]]:
        """The output model (nbformat JSON) of cell ``index``."""
        return list(
            self.page.evaluate("([p, i]) => window.__lrw.outputs(p, i)", [self.path, index])
        )

    def output_text(self, index: int) -> str:
        """Stream text plus text/plain results of cell ``index``."""
        parts: list[str] = []
        for output in self.outputs(index):
            if output.get("output_type") == "stream":
                text = output.get("text", "")
                parts.append(text if isinstance(text, str) else "".join(text))
            elif output.get("output_type") in ("execute_result", "display_data"):
                plain = output.get("data", {}).get("text/plain", "")
                parts.append(plain if isinstance(plain, str) else "".join(plain))
        return "".join(parts)

    def raise_cell_errors(self) -> None:
        """Raise :class:`PageError` with the traceback if any cell has an error output."""
        for index in range(self.cell_count()):
            for output in self.outputs(index):
                if output.get("output_type") == "error":
                    trace = "\n".join(output.get("traceback", []))
                    raise PageError(f"cell {index} of {self.path} raised:\n{trace}")

    # -- the DOM ---------------------------------------------------------------------------
    def text(self, selector: str) -> str:
        """innerText of the first element matching ``selector``."""
        return str(self.page.locator(selector).first.inner_text())

    def attribute(self, selector: str, name: str) -> str | None:
        """Attribute ``name`` of the first element matching ``selector`` (None when absent)."""
        value = self.page.locator(selector).first.get_attribute(name)
        return None if value is None else str(value)

    def wait_for(self, selector: str, timeout_ms: float | None = None) -> None:
        """Wait until ``selector`` matches a visible element."""
        self.page.locator(selector).first.wait_for(
            state="visible", timeout=DEFAULT_TIMEOUT_MS if timeout_ms is None else timeout_ms
        )

    def drag_slider(self, selector: str, dx: float, steps: int = 8) -> None:
        """Drag the noUi handle of the slider widget ``selector`` by ``dx`` pixels."""
        handle = self.page.locator(f"{selector} .noUi-handle").first
        handle.scroll_into_view_if_needed()
        box = handle.bounding_box()
        if box is None:
            raise PageError(f"slider handle {selector} .noUi-handle is not visible")
        drag(self.page, box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, dx, 0, steps)

    def screenshot(self, path: Path, selector: str | None = None) -> Path:
        """Screenshot the element ``selector`` (or the whole page) into ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if selector is None:
            self.page.screenshot(path=str(path))
        else:
            self.page.locator(selector).first.screenshot(path=str(path))
        return path


def drag(page: Any, x: float, y: float, dx: float, dy: float, steps: int = 8) -> None:
    """Press at (x, y), move by (dx, dy) in ``steps`` moves, release."""
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, steps + 1):
        page.mouse.move(x + dx * step / steps, y + dy * step / steps)
    page.mouse.up()


# Reads a bqplot figure's x axis in the page: pairs of (tick value, tick pixel x, viewport
# coordinates) fitted to px = a + b * log10(value).  bqplot's d3 ticks keep their value in
# `__data__`.  The fit is exact for a LogScale and needs no knowledge of the figure's margins.
_LOG_AXIS_JS = r"""
(figure) => {
  const root = typeof figure === 'string' ? document.querySelector(figure) : figure;
  if (!root) return null;
  const axes = Array.from(root.querySelectorAll('g.axis'));
  for (const axis of axes) {
    const ticks = Array.from(axis.querySelectorAll('g.tick'))
      .filter((t) => typeof t.__data__ === 'number' && t.__data__ > 0);
    if (ticks.length < 2) continue;
    const points = ticks.map((t) => {
      const line = t.querySelector('line') || t;
      const r = line.getBoundingClientRect();
      return [Math.log10(t.__data__), r.x + r.width / 2, r.y + r.height / 2];
    });
    const xs = points.map((p) => p[1]);
    const spreadX = Math.max(...xs) - Math.min(...xs);
    if (spreadX < 10) continue;  // the y axis: ticks stacked vertically
    return points;
  }
  return null;
}
"""


@dataclass(frozen=True)
class LogAxis:
    """px = offset + slope * log10(value), fitted from the ticks drawn on the page."""

    offset: float
    slope: float

    def to_px(self, value: float) -> float:
        """Viewport x pixel of the data value ``value``."""
        return self.offset + self.slope * math.log10(value)

    def to_value(self, px: float) -> float:
        """Data value at viewport x pixel ``px``."""
        return float(10 ** ((px - self.offset) / self.slope))


def read_log_x_axis(page: Any, figure_selector: str) -> LogAxis:
    """Fit the x axis of the bqplot figure ``figure_selector`` from its tick positions."""
    points = page.evaluate(_LOG_AXIS_JS, figure_selector)
    if not points:
        raise PageError(f"no log x axis with at least two ticks in {figure_selector}")
    count = len(points)
    mean_log = sum(p[0] for p in points) / count
    mean_px = sum(p[1] for p in points) / count
    covariance = sum((p[0] - mean_log) * (p[1] - mean_px) for p in points)
    variance = sum((p[0] - mean_log) ** 2 for p in points)
    slope = covariance / variance
    return LogAxis(offset=mean_px - slope * mean_log, slope=slope)


# Reads a bqplot figure's vertical linear axis in the page: (tick value, tick pixel y) pairs.
_LINEAR_Y_AXIS_JS = r"""
(figure) => {
  const root = typeof figure === 'string' ? document.querySelector(figure) : figure;
  if (!root) return null;
  for (const axis of root.querySelectorAll('g.axis')) {
    const points = Array.from(axis.querySelectorAll('g.tick'))
      .filter((t) => typeof t.__data__ === 'number' && isFinite(t.__data__))
      .map((t) => {
        const r = (t.querySelector('line') || t).getBoundingClientRect();
        return [t.__data__, r.y + r.height / 2];
      });
    if (points.length < 2) continue;
    const ys = points.map((p) => p[1]);
    if (Math.max(...ys) - Math.min(...ys) >= 10) return points;  // not the x axis
  }
  return null;
}
"""


@dataclass(frozen=True)
class LinearAxis:
    """px = offset + slope * value, fitted from the ticks drawn on the page."""

    offset: float
    slope: float

    def to_px(self, value: float) -> float:
        """Viewport pixel of the data value ``value``."""
        return self.offset + self.slope * value

    def to_value(self, px: float) -> float:
        """Data value at viewport pixel ``px``."""
        return (px - self.offset) / self.slope


def read_linear_y_axis(page: Any, figure_selector: str) -> LinearAxis:
    """Fit the vertical linear axis (the loss) of the bqplot figure ``figure_selector``."""
    points = page.evaluate(_LINEAR_Y_AXIS_JS, figure_selector)
    if not points:
        raise PageError(f"no vertical axis with at least two ticks in {figure_selector}")
    count = len(points)
    mean_value = sum(p[0] for p in points) / count
    mean_px = sum(p[1] for p in points) / count
    covariance = sum((p[0] - mean_value) * (p[1] - mean_px) for p in points)
    variance = sum((p[0] - mean_value) ** 2 for p in points)
    slope = covariance / variance
    return LinearAxis(offset=mean_px - slope * mean_value, slope=slope)


def plot_area(page: Any, figure_selector: str) -> dict[str, float]:
    """The viewport box (x, y, width, height) of the plot area of the bqplot figure
    ``figure_selector``: bqplot's ``rect.plotarea_events``, the area inside the axes."""
    box = page.locator(f"{figure_selector} rect.plotarea_events").first.bounding_box()
    if box is None:
        raise PageError(f"{figure_selector} has no visible plot area")
    return dict(box)


def copy_tree(source: Path, destination: Path) -> Path:
    """Copy a directory (notebooks) into a temp root; returns ``destination``."""
    if source.exists():
        shutil.copytree(source, destination, dirs_exist_ok=True)
    else:
        destination.mkdir(parents=True, exist_ok=True)
    return destination
