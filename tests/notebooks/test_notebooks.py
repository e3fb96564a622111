"""Every notebook in notebooks/ runs top to bottom (so tutorials never drift from the code)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    streams = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    clutter = [text for text in CLUTTER if text in streams]
    assert not clutter, f"Lightning/tqdm messages that say nothing about the tutorial: {clutter}"


# Messages Lightning and tqdm print that do not apply to fastest's generated module or to the tutorials
CLUTTER = ("GPU available", "TPU available", "Tip:", "LeafSpec", "IProgress not found", "was configured so 100%",
           "smaller than the logging interval", "Total params")
