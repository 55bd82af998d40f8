"""notebooks/exploration.ipynb: stored without outputs, and runs headless after a tiny run."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from tiny_project import ROOT, copy_of

NOTEBOOK = ROOT / "notebooks" / "exploration.ipynb"


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    cells = code_cells(notebook)
    assert cells[0].source.startswith("%load_ext kedro.ipython")
    with_outputs = [i for i, cell in enumerate(cells) if cell.outputs or cell.execution_count]
    assert with_outputs == [], f"code cells {with_outputs} keep outputs: clear them before saving"


@pytest.mark.slow
def test_notebook_runs_headless_after_a_tiny_run(trained_project: Path, tmp_path: Path):
    project = copy_of(trained_project, tmp_path / "project")
    (project / "notebooks").mkdir()
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=600,
        resources={"metadata": {"path": str(project / "notebooks")}},  # as opened from there
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails

    outputs = [output for cell in code_cells(notebook) for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [o.get("data", {}) for o in outputs]
    text = "\n".join(o.get("text", "") for o in outputs) + "\n".join(
        data.get("text/plain", "") for data in shown
    )
    figures = sum("image/png" in data for data in shown)
    assert figures >= 4  # resolution, MixUp grid, training curves, worst mistakes
    assert f"catalog of {project.name}" in text  # the kernel found the copied project
    assert "overridden: tiny test run" in text  # the HyperRule's decisions with reasons
    assert "display only" in text  # the tiny recipe has no MixUp: alpha forced for display
