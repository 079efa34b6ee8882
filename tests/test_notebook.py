"""The notebook in notebooks/ runs top to bottom against the sandbox (docs checked by tests)."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "notebooks" / "reconciliation.ipynb"


@pytest.mark.slow
def test_reconciliation_notebook_runs(tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    monkeypatch.setenv("PEXXERO_KEY", Fernet.generate_key().decode())
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent.parent)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    summary_cell = next(c for c in notebook.cells if c.source.rstrip().endswith("preview.summary()"))
    summary = summary_cell.outputs[0]["data"]["text/plain"]
    assert "possible duplicate" in summary and "xero only" in summary
