"""`aiforge mlflow export` and `aiforge mlflow import`: the MLflow model format, both ways."""

from __future__ import annotations

from pathlib import Path

import click

from aiforge.cli._common import handles_errors, json_option, settings
from aiforge.cli._completion import complete_model_names

__all__ = ["mlflow"]


@click.group()
def mlflow() -> None:
    """The MLflow model format: export a version for mlflow.pyfunc, import an MLflow model into the registry.

    \b
      aiforge mlflow export income 3 --output income-v3-mlflow
      python -c "import mlflow.pyfunc as p; print(p.load_model('income-v3-mlflow').predict(df))"
      aiforge mlflow import mlruns/0/RUN/artifacts/model --name churn
    """


@mlflow.command("export")
@click.argument("name", shell_complete=complete_model_names)
@click.argument("version", type=int)
@click.option("--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The MLflow model folder to write (must not exist).")
@json_option
@click.pass_context
@handles_errors
def mlflow_export(ctx: click.Context, name: str, version: int, output: Path, as_json: bool) -> None:
    """Write model NAME version VERSION as an MLflow model (MLmodel with the python_function flavor): loadable with
    mlflow.pyfunc.load_model where aiforge is installed; predict gives prediction and probability_<class>."""
    from aiforge.cli._console import print_json
    from aiforge.registry import ModelRegistry, export_mlflow
    from aiforge.workspace import Workspace

    registry = ModelRegistry(Workspace.open(settings(ctx), create=False))
    folder = export_mlflow(registry, registry.get(name, version), output)
    if as_json:
        print_json({"name": name, "version": version, "folder": str(folder)})
    else:
        click.echo(f"{name} v{version} -> {folder} (MLflow model: mlflow.pyfunc.load_model('{folder}'))")


@mlflow.command("import")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default=None, help="The registered model's name (required for a scikit-learn model; default "
              "for a model aiforge exported: its own).")
@click.option("--task", type=click.Choice(["binary", "multiclass", "regression"]), default=None,
              help="scikit-learn models: the task (default: classification when it has predict_proba and classes_).")
@click.option("--target", default="target", show_default=True, help="scikit-learn models: the target's name.")
@json_option
@click.pass_context
@handles_errors
def mlflow_import(ctx: click.Context, folder: Path, name: str | None, task: str | None, target: str,
                  as_json: bool) -> None:
    """Register the MLflow model in FOLDER: one aiforge exported (its metrics, KPI gate and lineage come back), or
    a scikit-learn model (flavor sklearn, pickled; its input columns from the signature). The scikit-learn
    model's file is unpickled as mlflow.sklearn would: import only models you trust. It is registered as an
    accepted candidate with no KPI results: it was not gated by an aiforge project."""
    from aiforge.cli._console import print_json
    from aiforge.registry import ModelRegistry, import_mlflow
    from aiforge.spec import TaskKind
    from aiforge.workspace import Workspace

    registry = ModelRegistry(Workspace.open(settings(ctx)))
    v = import_mlflow(registry, folder, name=name, task=TaskKind(task) if task else None, target=target)
    if as_json:
        print_json(v.to_json())
    else:
        click.echo(f"registered {v.name} v{v.version} ({v.learner}) {v.status.value}"
                   f"{' as ' + v.alias.value if v.alias else ''} from {folder}")
