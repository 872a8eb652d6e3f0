"""aiforge: from a project file to a monitored, governed model in production.

The public API is small and imported lazily, so that ``import aiforge`` stays instant::

    import aiforge
    project = aiforge.Project.load("examples/income/aiforge.yaml")
    result = project.run()     # in Jupyter, results show as HTML: the KPI gate, the registered version

or, one level down::

    project = aiforge.load_project("examples/income/aiforge.yaml")
    result = aiforge.run_project(project, aiforge.WorkspaceSettings.resolve())
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
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

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aiforge' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return __all__
