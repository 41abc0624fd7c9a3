"""The notebooks run from top to bottom on a small simulated city, so they never rot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SMALL_CITY = {
    "MEDCREDIT_NB_INSTITUTIONS": "100",
    "MEDCREDIT_NB_YEARS": "3",
    "MEDCREDIT_NB_CLAIMS": "30",
    "MEDCREDIT_NB_FAST": "1",
    "JUPYTER_PLATFORM_DIRS": "1",  # the kernel client's own path-migration notice is not ours to raise
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """One folder for both notebooks: the first simulates the city, the second reuses it."""
    return tmp_path_factory.mktemp("notebooks")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["exploration.ipynb", "evaluation.ipynb"])
def test_notebook_runs_on_a_small_city(name, workdir, monkeypatch):
    tmp_path = workdir
    for key, value in {**SMALL_CITY, "MEDCREDIT_NB_WORKDIR": str(tmp_path)}.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []
    assert any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    assert os.listdir(tmp_path)
