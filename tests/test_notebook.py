"""The quickstart notebook is executed, so it never rots."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_notebook_runs_end_to_end(shared_data, tmp_path, monkeypatch):
    notebook = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", []))
    assert "validation perplexity" in outputs
    assert "| reply_perplexity |" in outputs
    chat = next(o for o in notebook.cells[-1].outputs if o.output_type == "execute_result")["data"]["text/plain"]
    assert chat.count("'") >= 8  # four utterances: two of the user, two replies
