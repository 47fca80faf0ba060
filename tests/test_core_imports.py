"""Imports run one way: the numpy core pulls in no fastai, torch or widget stack, and every
module imports only the layers below it (the README's architecture diagram)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("fastai", "torch", "ipywidgets", "bqplot", "traitlets")
PACKAGE = Path(__file__).resolve().parent.parent / "lrwidget"

#: Each module's layer; a module may import lrwidget modules of lower layers only.
LAYERS: dict[str, int] = {
    "_errors": 0,
    "_worker": 0,
    "_checks": 1,
    "_context": 1,
    "_trial_checks": 2,
    "_trial_record": 1,
    "_reduce": 1,
    "_boundaries": 1,
    "_shown_points": 2,
    "_style": 0,
    "_sweep_file": 2,
    "_lerp": 2,
    "sweep": 3,
    "smoothing": 4,
    "suggest": 4,
    "settings": 5,
    "peers": 5,
    "compare": 4,
    "analysis": 6,
    # adapters: they import only the core
    "_tensor_rules": 7,
    "_snapshot": 7,
    "_guards": 7,
    "_fastai": 8,
    "_torch_checks": 7,
    "_torch_state": 6,
    "_seeding": 7,
    "_torch": 8,
    "_torch_trials": 9,
    "_trials": 9,
    # the widget's rooms
    "_view_layout": 1,
    "_compare_view": 7,
    "_compare_chart": 10,
    "_compare_control": 9,
    "_compare_row": 8,
    "_sweep_list": 4,
    "_view": 7,
    "_evidence_view": 7,
    "_evidence_chart": 10,
    "_stream": 7,
    "_readout": 8,
    "_runner": 8,
    "_chart_marks": 8,
    "_chart": 9,
    "_controls": 9,
    "_trials_view": 7,
    "_trials_chart": 10,
    "_sweep_control": 10,
    "_trial_control": 10,
    "_peer_control": 10,
    "_frames": 11,
    "_static": 9,
    "widget": 12,
    "__init__": 13,
}
#: Imports made inside a function, on first use only, that go against the layers: the core
#: calls a tensor rule through its adapter when torch is already loaded, the runner loads
#: fastai's adapter when a sweep starts on a Learner, and Sweep.from_torch_lr_finder /
#: from_lightning call the peers' module, and the plain-PyTorch engine loads its trials when
#: the widget starts them.
LAZY_UPWARD = {
    ("analysis", "_tensor_rules"),
    ("_runner", "_fastai"),
    ("sweep", "peers"),
    ("_torch", "_torch_trials"),
}
#: Pure modules: testable with numpy alone.
PURE = (
    "sweep",
    "_sweep_file",
    "smoothing",
    "suggest",
    "settings",
    "analysis",
    "_checks",
    "_trial_checks",
    "_trial_record",
    "_worker",
    "_lerp",
    "peers",
    "_context",
    "compare",
)
PURE_ROOMS = (
    "_view",
    "_stream",
    "_readout",
    "_reduce",
    "_shown_points",
    "_boundaries",
    "_evidence_view",
    "_style",
    "_trials_view",
    "_compare_view",
)


def _lrwidget_imports(path: Path) -> set[tuple[str, bool]]:
    """(module, lazy) for each lrwidget module ``path`` imports; lazy = inside a function."""
    tree = ast.parse(path.read_text())
    found: set[tuple[str, bool]] = set()

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
                continue  # annotations only: nothing is imported when the code runs
            inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.ImportFrom) and child.module:
                if child.module == "lrwidget":
                    found.update((alias.name, inner) for alias in child.names)
                elif child.module.startswith("lrwidget."):
                    found.add((child.module.split(".")[1], inner))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("lrwidget."):
                        found.add((alias.name.split(".")[1], inner))
            visit(child, inner)

    visit(tree, False)
    return {(name, lazy) for name, lazy in found if name in LAYERS}


def test_every_module_has_a_layer() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert modules == set(LAYERS), "add new modules to LAYERS (and the README's diagram)"


@pytest.mark.parametrize("module", sorted(LAYERS))
def test_imports_run_one_way(module: str) -> None:
    for imported, lazy in _lrwidget_imports(PACKAGE / f"{module}.py"):
        if LAYERS[imported] < LAYERS[module]:
            continue
        assert lazy and (module, imported) in LAZY_UPWARD, (
            f"lrwidget.{module} (layer {LAYERS[module]}) imports lrwidget.{imported} "
            f"(layer {LAYERS[imported]})"
        )


def _heavy_after_import(modules: tuple[str, ...], extra: str = "") -> str:
    code = (
        "import sys\n"
        + "".join(f"import lrwidget.{name}\n" for name in modules)
        + extra
        + f"heavy = [name for name in {HEAVY!r} if name in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def test_core_modules_import_nothing_heavy() -> None:
    analyse = (
        "from lrwidget import Sweep, analyze\n"
        "lrs = [1e-3 * 1.2**i for i in range(40)]\n"
        "analyze(Sweep.from_arrays(lrs, [2.0 - i / 50 for i in range(40)]))\n"
    )
    assert _heavy_after_import(PURE, analyse) == ""


def test_pure_rooms_of_the_widget_import_nothing_heavy() -> None:
    # The view, the message budget and the text are tested without the widget stack.
    assert _heavy_after_import(PURE_ROOMS) == ""
