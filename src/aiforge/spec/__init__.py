"""The project file: pydantic models, YAML loading, errors that name file, line and field."""

from aiforge.spec._load import FieldPath, ProjectFile, load_project_file, parse_project_text
from aiforge.spec._models import (
    Budget,
    Checks,
    CsvSource,
    DataSpec,
    EnsembleSpec,
    ImportanceCheck,
    Kpi,
    ModelSpec,
    ParquetSource,
    ProblemSpec,
    ProjectSpec,
    SearchSpec,
    SourceSpec,
    SplitSpec,
    TaskKind,
    ThresholdSpec,
)

__all__ = [
    "Budget",
    "Checks",
    "CsvSource",
    "DataSpec",
    "EnsembleSpec",
    "FieldPath",
    "ImportanceCheck",
    "Kpi",
    "ModelSpec",
    "ParquetSource",
    "ProblemSpec",
    "ProjectFile",
    "ProjectSpec",
    "SearchSpec",
    "SourceSpec",
    "SplitSpec",
    "TaskKind",
    "ThresholdSpec",
    "load_project_file",
    "parse_project_text",
]
