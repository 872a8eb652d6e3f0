"""The example notebook (examples/notebook/lifecycle.ipynb) runs from top to bottom in a real Jupyter kernel: the
project's own Python (a kernel spec written here, pointing at this interpreter), no network, its outputs the
HTML views of the library. The income example runs as shipped but for its search budget (8 s instead of 40 s),
set the way papermill sets parameters: a cell after the one tagged ``parameters``."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import workspace_databases
from conftest import REPO

NOTEBOOK = REPO / "examples" / "notebook" / "lifecycle.ipynb"
INCOME = REPO / "examples" / "income"
KERNEL = "aiforge-tests"

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the dev extra: pip install -e '.[dev]'")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in the dev extra: pip install -e '.[dev]'")


def test_the_stored_notebook_is_valid_and_holds_no_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code), "clear the outputs first"
    assert [c for c in code if "parameters" in c.metadata.get("tags", [])] == [code[0]]


def _kernel_env(root: Path) -> dict[str, str]:
    """Jupyter's folders inside ``root``, with one kernel spec: this interpreter (the project's .venv python)."""
    spec = root / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "aiforge (tests)", "language": "python",
    }), encoding="utf-8")
    return {"JUPYTER_PATH": str(root / "jupyter"), "JUPYTER_DATA_DIR": str(root / "jupyter"),
            "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
            "IPYTHONDIR": str(root / "ipython"), "JUPYTER_PLATFORM_DIRS": "1", "MPLBACKEND": "agg"}


def _quick_income(folder: Path) -> Path:
    """The income example as shipped, with an 8 s search budget; its data linked, not copied."""
    folder.mkdir()
    (folder / "data").symlink_to(INCOME / "data", target_is_directory=True)
    text = (INCOME / "aiforge.yaml").read_text(encoding="utf-8")
    quick, count = re.subn(r"budget: \{seconds: 40\}", "budget: {seconds: 8}", text)
    assert count == 1, "the income example's budget line changed: update this test"
    (folder / "aiforge.yaml").write_text(quick, encoding="utf-8")
    return folder / "aiforge.yaml"


def _html(cell: Any) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)


def _text(cell: Any) -> str:
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.outputs)


def test_the_notebook_runs_the_income_life_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in _kernel_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    project = _quick_income(tmp_path / "income")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(
        f"PROJECT = Path({str(project)!r})\nWORKSPACE = Path({str(tmp_path / 'ws')!r})"))
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=300,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, when a cell fails

    cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(o.output_type != "error" for c in cells for o in c.outputs)
    assert _text(cells[-1]).strip() == sys.executable, "the kernel is this project's python"
    shown = {c.source.splitlines()[-1]: c for c in cells}
    assert "income" in _html(shown["project"]) and "KPIs (each one a release gate)" in _html(shown["project"])
    assert "32561 rows" in _html(shown["project.validate()"])
    run = shown["result"]
    stages = [line.split()[1] for line in _text(run).splitlines() if line[:1] in "✓↺"]
    assert stages == ["ingest", "validate", "split", "train", "mitigate", "evaluate", "checks", "gate", "register",
                      "report"]
    assert "income v1" in _html(run) and "accepted" in _html(run)
    gate = _html(shown["result.verdict"])
    for kpi in ("roc_auc", "accuracy", "demographic_parity_difference[sex]", "attack_success_rate",
                "membership_inference_auc", "training_energy_kwh"):
        assert f"<td>{kpi}</td>" in gate
    assert "<b>FAIL</b>" not in gate
    assert "Lineage" in _html(shown["version"]) and "<td>income</td>" in _html(shown["project.versions()"])
    predicted = _html(next(c for c in cells if c.source.splitlines()[-1].startswith("project.predict(")))
    assert predicted.count("<tr") == 6 and "probability_&gt;50K" in predicted  # pandas' table: a header and 5 rows
    drift = _html(shown["project.drift(newer)"])
    assert "Columns drifted: <b>age</b>" in drift
    assert not (REPO / "examples" / "notebook" / ".aiforge").exists()
    assert (tmp_path / "ws" / "aiforge.db").is_file() != workspace_databases.active()  # (no file on PostgreSQL)
    assert sorted(os.listdir(INCOME)) == ["aiforge.yaml", "data"]
