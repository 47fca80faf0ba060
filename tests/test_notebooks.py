"""The shipped notebooks: committed without outputs, and they run top to bottom headless.

Each notebook is executed with nbclient in a temp copy of ``notebooks/`` (the kernel's working
directory), on the venv's own ``python3`` kernelspec, with ``store_widget_state=True`` so the
widget models' final state can be read back: the readout table must report a finished sweep.
The working directory must be left exactly as it was: neither lrwidget nor ``fit_one_cycle``
writes files, and fastai's own ``lr_find`` is pointed at a temp dir inside the notebook.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
FINISHED = {"done", "diverged"}
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _ids(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def test_there_are_notebooks() -> None:
    assert {path.name for path in NOTEBOOKS} >= {"quickstart.ipynb", "explained.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_notebook_is_stripped(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} have outputs or execution counts; clear them before "
        "committing (JupyterLab: Edit > Clear Outputs of All Cells, then save)"
    )
    assert "widgets" not in notebook.metadata, f"{path.name}: saved widget state; clear it"
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: kernelspec must be python3 so Lab, Voila and nbclient pick the venv kernel"
    )


def _readout_statuses(notebook: Any) -> list[str]:
    """data-status of every lrwidget readout table in the stored widget state."""
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    statuses: list[str] = []
    for model in state.values():
        value = model.get("state", {}).get("value")
        if isinstance(value, str) and "data-points=" in value:
            statuses += re.findall(r'data-status="([a-z]+)"', value)
    return statuses


def _errors(notebook: Any) -> list[str]:
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                found.append(f"cell {index}: {output.ename}: {output.evalue}")
            elif (
                output.output_type == "stream"
                and output.name == "stderr"
                and ("Traceback" in output.text or "Exception in thread" in output.text)
            ):
                found.append(f"cell {index} stderr: {output.text[-2000:]}")
    return found


@pytest.mark.fastai
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_headless(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    # Only this venv's kernelspecs (no user-level ones): `python3` then runs sys.executable.
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert spec.argv[0] in ("python", "python3", sys.executable), spec.argv

    workdir = tmp_path / "work"
    shutil.copytree(NOTEBOOK_DIR, workdir)
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))
    notebook = nbformat.read(workdir / path.name, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
        store_widget_state=True,
    )
    client.execute()

    assert not _errors(notebook)
    statuses = _readout_statuses(notebook)
    assert statuses, f"{path.name}: no lrwidget readout found in the stored widget state"
    assert set(statuses) <= FINISHED, f"{path.name}: sweeps ended as {statuses}"
    after = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))
    assert after == before, f"{path.name} wrote files: {sorted(set(after) - set(before))}"
