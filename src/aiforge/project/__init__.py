"""The library API for notebooks and scripts: ``Project.load(path)``, then validate, run, and read back the runs,
model versions, predictions and drift reports it made, each shown as rich HTML in Jupyter."""

from aiforge.project._progress import LineProgress
from aiforge.project._project import Project
from aiforge.project._views import Comparison, RunList, Validation, VersionList

__all__ = ["Comparison", "LineProgress", "Project", "RunList", "Validation", "VersionList"]
