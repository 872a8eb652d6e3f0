"""The public surface: ``aiforge.__all__`` is exactly the intended API, and every export resolves.

Like httpx's test of the same name: a public surface that is tested stays small. Also checks that
the lazy exports keep ``aiforge --help`` and ``aiforge validate`` free of the heavy libraries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest
from conftest import write_income_project

import aiforge

PUBLIC_API = {
    "__version__",
    "AiforgeError",
    "ModelRegistry",
    "Project",
    "Workspace",
    "WorkspaceSettings",
    "get_run",
    "list_runs",
    "load_project",
    "run_project",
}

# Where each top-level export lives: aiforge.X must be the very object of its home package.
HOME = {
    "AiforgeError": "aiforge.errors",
    "ModelRegistry": "aiforge.registry",
    "Project": "aiforge.project",
    "Workspace": "aiforge.workspace",
    "WorkspaceSettings": "aiforge.workspace",
    "get_run": "aiforge.pipeline",
    "list_runs": "aiforge.pipeline",
    "load_project": "aiforge.pipeline",
    "run_project": "aiforge.pipeline",
}

PACKAGES = [
    "aiforge.cli",
    "aiforge.data",
    "aiforge.deep",
    "aiforge.errors",
    "aiforge.evaluate",
    "aiforge.learn",
    "aiforge.monitor",
    "aiforge.nlp",
    "aiforge.pipeline",
    "aiforge.project",
    "aiforge.reason",
    "aiforge.registry",
    "aiforge.serve",
    "aiforge.spec",
    "aiforge.ui",
    "aiforge.workspace",
]

HEAVY = ("sklearn", "lightgbm", "torch", "matplotlib", "sqlalchemy", "alembic")


def test_top_level_all_is_the_public_api() -> None:
    assert len(aiforge.__all__) == len(set(aiforge.__all__)), "duplicate names in aiforge.__all__"
    assert set(aiforge.__all__) == PUBLIC_API
    assert sorted(dir(aiforge)) == sorted(PUBLIC_API)


@pytest.mark.parametrize("name", sorted(PUBLIC_API))
def test_top_level_name_resolves(name: str) -> None:
    value = getattr(aiforge, name)
    assert value is not None
    if name in HOME:
        assert value is getattr(import_module(HOME[name]), name)


def test_version_is_a_string() -> None:
    assert isinstance(aiforge.__version__, str)
    assert aiforge.__version__.count(".") >= 1


def test_unknown_top_level_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"module 'aiforge' has no attribute 'run_pipeline'"):
        aiforge.run_pipeline  # noqa: B018
    assert not hasattr(aiforge, "_EXPORTS_TYPO")


@pytest.mark.parametrize("package", PACKAGES)
def test_subpackage_all_resolves(package: str) -> None:
    module = import_module(package)
    exported = module.__all__
    assert exported, f"{package}.__all__ is empty"
    assert len(exported) == len(set(exported)), f"duplicate names in {package}.__all__"
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == [], f"{package}.__all__ names what it does not define: {missing}"
    private = [name for name in exported if name.startswith("_")]
    assert private == [], f"{package}.__all__ exports private names: {private}"


def test_every_subpackage_is_listed() -> None:
    """A new package must be added here (and so get its __all__ checked)."""
    root = Path(aiforge.__file__).parent
    found = {f"aiforge.{p.name}" for p in root.iterdir() if (p / "__init__.py").is_file()}
    found |= {f"aiforge.{p.stem}" for p in root.glob("*.py") if not p.name.startswith("_")}
    assert found == set(PACKAGES)


def test_unknown_lazy_pipeline_name_raises_attribute_error() -> None:
    pipeline = import_module("aiforge.pipeline")
    with pytest.raises(AttributeError, match=r"module 'aiforge.pipeline' has no attribute 'nope'"):
        pipeline.nope  # noqa: B018


PROBE = """
import json, sys
from aiforge.cli import cli
try:
    rc = cli(sys.argv[1:], standalone_mode=False) or 0
except SystemExit as exc:
    rc = exc.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
print("\\nPROBE " + json.dumps({"rc": rc, "heavy": heavy}))
""".replace("HEAVY", repr(HEAVY))


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--help"], id="help"),
        pytest.param(["validate", "{project}"], id="validate"),
        pytest.param(["validate", "--no-data", "{project}"], id="validate-no-data"),
        pytest.param(["validate", "--json", "{project}"], id="validate-json"),
        pytest.param(["validate", "{project}.missing"], id="validate-bad-input"),
    ],
)
def test_cli_loads_no_heavy_library(tmp_path: Path, args: list[str]) -> None:
    project = write_income_project(tmp_path / "income", rows=200)
    argv = [a.format(project=project) for a in args]
    env = {**os.environ, "AIFORGE_WORKSPACE": str(tmp_path / "ws")}
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    probe = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert probe, f"the probe did not finish:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(probe[-1].removeprefix("PROBE "))
    expected_rc = 2 if argv[-1].endswith(".missing") else 0
    assert result["rc"] == expected_rc, proc.stderr
    assert result["heavy"] == [], f"aiforge {' '.join(args)} imported {result['heavy']}"
    assert not (tmp_path / "ws").exists()
