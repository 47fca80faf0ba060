"""The numpy core must not pull in fastai, torch or the widget stack."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("fastai", "torch", "ipywidgets", "bqplot", "traitlets")


def test_core_modules_import_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "import lrwidget.sweep, lrwidget._sweep_file, lrwidget.smoothing, lrwidget.suggest\n"
        "import lrwidget.analysis, lrwidget._checks\n"
        "from lrwidget import Sweep, analyze\n"
        "lrs = [1e-3 * 1.2**i for i in range(40)]\n"
        "analyze(Sweep.from_arrays(lrs, [2.0 - i / 50 for i in range(40)]))\n"
        f"heavy = [name for name in {HEAVY!r} if name in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "", f"imported: {result.stdout.strip()}"


def test_chart_view_imports_nothing_heavy() -> None:
    # The chart's pure view (lrwidget._view) is testable without the widget stack.
    code = (
        "import sys\n"
        "import lrwidget._view\n"
        f"heavy = [name for name in {HEAVY!r} if name in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "", f"imported: {result.stdout.strip()}"
