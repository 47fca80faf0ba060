"""The kernel's interrupt button (SIGINT) in a real ipykernel, driven by jupyter_client.

An interrupt stops a running sweep exactly as Stop does — whether the kernel is idle (the
widget's cell returned, the sweep runs in the background) or busy in another cell — and
changes nothing when no sweep runs.  With DataLoader workers (``num_workers=2``) an interrupt
never fails the sweep.
"""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

jupyter_client = pytest.importorskip("jupyter_client")

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 60.0


class Kernel:
    """A real ipykernel in the repo root (so ``tests.support`` imports), run cell by cell."""

    def __init__(self) -> None:
        self.manager, self.client = jupyter_client.manager.start_new_kernel(
            kernel_name="python3", cwd=str(REPO)
        )
        self.closed = False

    def run(self, code: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Execute ``code`` and wait for its reply; returns the reply's content."""
        reply = self.client.execute_interactive(textwrap.dedent(code), timeout=timeout)
        return dict(reply["content"])

    def value(self, expression: str) -> Any:
        """The value of ``expression`` in the kernel (through its repr)."""
        reply = self.client.execute_interactive(
            "", user_expressions={"value": expression}, timeout=TIMEOUT
        )
        found = reply["content"]["user_expressions"]["value"]
        assert found["status"] == "ok", found
        return eval(found["data"]["text/plain"])  # the repr of a str, bool or number

    def submit(self, code: str) -> str:
        """Execute ``code`` without waiting for it to end; returns once it is running (it
        prints a marker first), so an interrupt sent next finds the kernel busy in it."""
        marker = "lrwidget-test: the cell runs"
        msg_id = str(
            self.client.execute(f"print({marker!r}, flush=True)\n" + textwrap.dedent(code))
        )
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            message = self.client.get_iopub_msg(timeout=TIMEOUT)
            if (
                message["parent_header"].get("msg_id") == msg_id
                and message["msg_type"] == "stream"
                and marker in message["content"].get("text", "")
            ):
                time.sleep(0.5)  # past the print, in the cell's own code
                return msg_id
        raise TimeoutError(f"the cell did not start within {TIMEOUT} s")

    def reply_to(self, msg_id: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self.client.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                return dict(reply["content"])
        raise TimeoutError(f"no reply to {msg_id} within {timeout} s")

    def wait_until(self, expression: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self.value(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression} still false after {timeout} s")
            time.sleep(0.05)

    def interrupt(self) -> None:
        self.manager.interrupt_kernel()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    started = Kernel()
    try:
        yield started
    finally:
        started.close()


SLOW_WIDGET = """
    from tests.support.engines import ReplayEngine, synthetic_sweep
    engine = ReplayEngine(synthetic_sweep(2000), delay=0.01)
    w = engine.widget()
    w.start()
"""


def test_interrupt_while_idle_stops_the_sweep(kernel: Kernel) -> None:
    assert kernel.run(SLOW_WIDGET)["status"] == "ok"
    kernel.wait_until("len(w.sweep) >= 5")
    kernel.interrupt()
    kernel.wait_until("not w.running", timeout=10)
    assert kernel.value("w.status") == "stopped"
    count = kernel.value("len(w.sweep)")
    assert 5 <= count < 2000
    # The kernel itself was not disturbed: the next cell runs normally.
    assert kernel.run("x = 1 + 1")["status"] == "ok"


def test_interrupt_of_a_busy_cell_stops_the_sweep_too(kernel: Kernel) -> None:
    assert kernel.run(SLOW_WIDGET)["status"] == "ok"
    kernel.wait_until("len(w.sweep) >= 5")
    busy = kernel.submit("import time\nfor _ in range(600): time.sleep(0.05)")
    kernel.interrupt()
    reply = kernel.reply_to(busy)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    kernel.wait_until("not w.running", timeout=10)
    assert kernel.value("w.status") == "stopped"


def test_interrupts_without_a_sweep_behave_as_before(kernel: Kernel) -> None:
    # A widget whose sweep has ended leaves the kernel's interrupt handling as it was.
    assert kernel.run(SLOW_WIDGET)["status"] == "ok"
    assert kernel.run("w.stop(); w.wait()")["status"] == "ok"
    busy = kernel.submit("import time\nfor _ in range(600): time.sleep(0.05)")
    kernel.interrupt()
    reply = kernel.reply_to(busy)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    kernel.interrupt()  # idle: ignored, as ipykernel does
    time.sleep(0.3)
    assert kernel.run("y = 2")["status"] == "ok"


@pytest.mark.fastai
def test_interrupts_never_fail_a_sweep_with_dataloader_workers(
    kernel: Kernel, request: pytest.FixtureRequest
) -> None:
    """DataLoader workers started while a cell runs must not die of the kernel's SIGINT."""
    if not hasattr(os, "killpg"):
        pytest.skip("process groups (killpg) are POSIX-only")
    setup = """
        import time, torch
        from fastai.data.core import DataLoaders
        from fastai.data.load import DataLoader
        from fastai.learner import Learner
        from fastai.losses import MSELossFlat
        from torch.utils.data import TensorDataset
        from lrwidget import LRFinderWidget

        class Slow(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.linear = torch.nn.Linear(4, 1)
            def forward(self, x):
                time.sleep(0.02)
                return self.linear(x)

        torch.manual_seed(0)
        data = TensorDataset(torch.randn(256, 4), torch.randn(256, 1))
        loaders = DataLoaders(
            DataLoader(data, bs=8, shuffle=True, num_workers=2),
            DataLoader(data, bs=8, num_workers=2),
        )
        learn = Learner(loaders, Slow(), loss_func=MSELossFlat())
        before = {k: v.clone() for k, v in learn.model.state_dict().items()}
        w = LRFinderWidget(learn, num_it=1000)
        w.start()
    """
    assert kernel.run(setup, timeout=120)["status"] == "ok"
    try:
        kernel.wait_until("len(w.sweep) >= 3")
    except TimeoutError:
        # Seen in 2 of 4 full `make test` runs on one machine, never alone: the sweep's first
        # DataLoader workers never delivered a batch (a fork that hangs; not understood yet,
        # and not about interrupts: none was sent).  One fresh kernel is allowed; a second
        # hang fails the test.
        kernel.close()
        kernel = Kernel()
        request.addfinalizer(kernel.close)
        assert kernel.run(setup, timeout=120)["status"] == "ok"
        kernel.wait_until("len(w.sweep) >= 3")
    # Busy in another cell, as when a user waits: the workers of the next epoch start now.
    busy = kernel.submit("w.wait()")
    time.sleep(1.5)  # an epoch ends meanwhile: its workers start while the cell runs
    kernel.interrupt()
    reply = kernel.reply_to(busy)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    kernel.wait_until("not w.running", timeout=30)
    assert kernel.value("w.status") == "stopped"
    assert kernel.value("w.sweep.error") is None
    assert kernel.value(
        "all(torch.equal(v, learn.model.state_dict()[k]) for k, v in before.items())"
    )
    # No worker processes and no queue feeder threads are left behind.
    kernel.wait_until("not __import__('multiprocessing').active_children()", timeout=10)
    assert not kernel.value(
        "[t.name for t in __import__('threading').enumerate() if 'QueueFeeder' in t.name]"
    )
