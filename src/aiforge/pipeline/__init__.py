"""The pipeline runner: loading a project, running its life cycle stage by stage, reading runs back.

Names are imported on first use, so that checking a project file does not load the database
or training libraries.
"""

from __future__ import annotations

from aiforge._lazy import lazy_exports

_EXPORTS = {
    "load_project": "_project",
    "check_metrics_for_task": "_project",
    "Preflight": "_preflight",
    "preflight": "_preflight",
    "erase_rows": "_erase",
    "Erasure": "_erase",
    "preflight_in": "_preflight",
    "transform": "_preflight",
    "RunResult": "_lifecycle",
    "code_version": "_lifecycle",
    "library_versions": "_lifecycle",
    "run_project": "_lifecycle",
    "Progress": "_runner",
    "RunStatus": "_runner",
    "SilentProgress": "_runner",
    "StageStatus": "_runner",
    "RunNotFound": "_runs",
    "RunRecord": "_runs",
    "StageRecord": "_runs",
    "get_run": "_runs",
    "count_runs": "_runs",
    "list_runs": "_runs",
    "report_file": "_runs",
    "run_trials": "_runs",
    "scaffold_project": "_scaffold",
    "CiOutcome": "_ci",
    "ProductionComparison": "_ci",
    "comparison_metric": "_ci",
    "error_markdown": "_ci",
    "run_ci": "_ci",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
