"""What every engine's worker shares, sweeps and trials, fastai and plain PyTorch alike: the
stop signal it polls, the SIGINT block that keeps DataLoader workers alive, and how an
exception is recorded.

Standard library only.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Protocol

__all__ = ["StopSignal", "describe", "sigint_blocked"]


class StopSignal(Protocol):
    """Anything with ``is_set() -> bool``, e.g. :class:`threading.Event`."""

    def is_set(self) -> bool:
        """True once the work (a sweep, trials) should stop."""
        ...


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Outside the main thread, block SIGINT in this thread while the work runs.

    DataLoader worker processes forked from this thread inherit its signal mask.  Without the
    block they would keep Python's SIGINT handler, and the kernel's interrupt (sent to the whole
    process group) would kill them mid-sweep.  The main thread still receives it.  In the main
    thread nothing changes: there an interrupt stops the work, which is then restored.
    """
    if threading.current_thread() is threading.main_thread() or not hasattr(
        signal, "pthread_sigmask"
    ):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def describe(exc: BaseException) -> str:
    """An exception as a sweep or a trial records it: ``"ValueError: the message"``."""
    return f"{type(exc).__name__}: {exc}"
