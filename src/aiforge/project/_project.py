"""``Project``: one project file and the workspace its runs live in, as one object for notebooks and scripts.

It calls the same library functions as the CLI (``pipeline.load_project``, ``preflight_in``, ``run_project``,
``list_runs``, ``ModelRegistry``, ``serve``'s batch scoring, ``monitor``'s drift) and computes nothing of its own::

    import aiforge
    project = aiforge.Project.load("examples/income/aiforge.yaml")
    project.validate()            # task, rows, input columns; nothing written
    result = project.run()        # the life cycle; shows the KPI gate and the registered version
    project.predict(rows)         # a DataFrame: the rows, prediction, probability_<class>
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError, RegistryError
from aiforge.evaluate import html as h
from aiforge.project._progress import LineProgress
from aiforge.project._views import Comparison, RunList, Validation, VersionList

if TYPE_CHECKING:
    import pandas as pd

    from aiforge.monitor import DriftReport, MonitorReport
    from aiforge.pipeline import Progress, RunRecord, RunResult
    from aiforge.registry import ModelRegistry, ModelVersion
    from aiforge.spec import ProjectFile, ProjectSpec
    from aiforge.workspace import Workspace, WorkspaceSettings

__all__ = ["Project"]


class Project:
    """A validated project file (``file``) and the workspace (``settings``) its runs, versions and reports are in.

    Nothing is read or written until a method needs it; each call opens the workspace and closes it again.
    """

    def __init__(self, file: ProjectFile, settings: WorkspaceSettings) -> None:
        self.file = file
        self.settings = settings

    @classmethod
    def load(cls, path: str | Path, *, workspace: str | Path | None = None) -> Project:
        """Read and check the project file at ``path`` (a file, or a folder holding ``aiforge.yaml``); raises
        ``SpecError`` naming file, line and field. ``workspace``: the workspace folder (default: as the CLI,
        ``$AIFORGE_WORKSPACE`` or ``./.aiforge``; the database and encryption key from the environment)."""
        from aiforge.pipeline import load_project
        from aiforge.workspace import WorkspaceSettings

        return cls(load_project(path), WorkspaceSettings.resolve(workspace))

    @property
    def name(self) -> str:
        return self.file.spec.name

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def spec(self) -> ProjectSpec:
        return self.file.spec

    def __repr__(self) -> str:
        return f"Project({self.name!r}, path={str(self.path)!r}, workspace={str(self.settings.root)!r})"

    # -- checking and running ------------------------------------------------------------------------------------

    def validate(self, *, data: bool = True) -> Validation:
        """Check the project's data as ``aiforge validate`` does (``data=False``: only the file, checked on load).
        Writes nothing; bad data raises an ``AiforgeError`` saying where, what and what to do."""
        from aiforge.pipeline import preflight_in

        checked = preflight_in(self.file, lambda: self.settings, history=False) if data else None
        return Validation.of(self.file, checked)

    def run(self, *, force: bool = False, progress: Progress | None = None) -> RunResult:
        """Run the life cycle as ``aiforge run`` does: the model is registered as a candidate, or as rejected when a
        KPI fails (``result.verdict`` says which; no exception). ``progress``: default a line per finished stage
        on standard output (``pipeline.SilentProgress()`` for none); ``force`` redoes cached stages."""
        from aiforge.pipeline import run_project

        return run_project(self.file, self.settings, force=force,
                           progress=progress if progress is not None else LineProgress())

    # -- what the runs made --------------------------------------------------------------------------------------

    @contextmanager
    def _workspace(self) -> Iterator[Workspace]:
        from aiforge.workspace import Workspace

        workspace = Workspace.open(self.settings, create=False)
        try:
            yield workspace
        finally:
            workspace.close()

    @contextmanager
    def _registry(self) -> Iterator[ModelRegistry]:
        from aiforge.registry import ModelRegistry

        with self._workspace() as workspace:
            yield ModelRegistry(workspace)

    def runs(self, *, limit: int = 20) -> RunList:
        """The project's runs, newest first."""
        from aiforge.pipeline import list_runs

        with self._workspace() as workspace:
            return RunList(list_runs(workspace, limit=limit, project=self.name))

    def get_run(self, run_id: str) -> RunRecord:
        """One of the project's runs (id or unique prefix), with its stages and KPI gate."""
        from aiforge.pipeline import RunNotFound, get_run

        with self._workspace() as workspace:
            record = get_run(workspace, run_id)
        if record.project != self.name:
            raise RunNotFound(f"run {record.id} is a run of project '{record.project}', not of '{self.name}'",
                              hint="load that project, or list this one's runs with Project.runs()")
        return record

    def report(self, run_id: str | None = None) -> Path:
        """The path of a run's self-contained HTML report (default: the newest run that has one)."""
        from aiforge.pipeline import RunNotFound, report_file

        record = self.get_run(run_id) if run_id is not None else next(
            (r for r in self.runs(limit=50) if r.summary.get("report_artifact")), None)
        if record is None:
            raise RunNotFound(f"project '{self.name}' has no run with a report yet", hint="run it: Project.run()")
        with self._workspace() as workspace:
            return report_file(workspace, record)

    def versions(self) -> VersionList:
        """The project's registered model versions, oldest first."""
        with self._registry() as registry:
            return VersionList(registry.versions(self.name))

    def version(self, number: int | None = None) -> ModelVersion:
        """Version ``number`` of the project's model; by default the one that answers requests (production, else
        staging, else the newest accepted candidate), else the newest version (which may be rejected)."""
        with self._registry() as registry:
            return _version(registry, self.name, number)

    def promote(self, number: int, to: str) -> ModelVersion:
        """Give version ``number`` the alias ``to`` (candidate, staging, production, archived), as
        ``aiforge promote`` does; a version rejected by its KPI gate is refused."""
        from aiforge.registry import Alias

        aliases = [a.value for a in Alias]
        if to not in aliases:
            raise RegistryError(f"unknown alias '{to}'", expected=f"one of {', '.join(aliases)}", found=to)
        with self._registry() as registry:
            return registry.promote(self.name, number, Alias(to))

    def compare(self, *numbers: int) -> Comparison:
        """Versions side by side, metrics and KPI verdicts (default: every version)."""
        with self._registry() as registry:
            versions = [registry.get(self.name, n) for n in numbers] if numbers else registry.versions(self.name)
        if not versions:
            raise RegistryError(f"project '{self.name}' has no registered version to compare",
                                hint="run it: Project.run()")
        return Comparison(versions)

    # -- using a version -----------------------------------------------------------------------------------------

    def predict(self, records: pd.DataFrame | Sequence[Mapping[str, Any]] | Mapping[str, Any], *,
                version: int | None = None) -> pd.DataFrame:
        """Score ``records`` (a DataFrame, a list of dicts, or one dict) as ``aiforge predict`` does: with
        ``version``, else the version that answers requests; a version rejected by its KPI gate never scores. The
        result holds the records' columns, then ``prediction`` and, for classification, ``probability_<class>``."""
        import pandas as pd

        from aiforge.serve._batch import check_columns, score_frame, scoring_version

        frame = _frame(records)
        with self._registry() as registry:
            chosen = scoring_version(registry, self.name, version)
            model = registry.load_predictor(chosen)  # the path its registration chose, as aiforge predict
        check_columns(frame, model.input_columns, [], "the DataFrame")
        scored = score_frame(model, frame, []).to_pandas()
        return pd.concat([frame.reset_index(drop=True), scored], axis=1)

    def drift(self, records: pd.DataFrame | Sequence[Mapping[str, Any]], *, version: int | None = None,
              method: str = "auto", threshold: float | None = None, alpha: float = 0.05) -> DriftReport:
        """Drift of ``records`` against the training reference of ``version`` (default: the version that answers):
        per input column PSI, Jensen–Shannon, KS, Wasserstein and a test, as ``aiforge monitor report`` measures
        logged predictions (``monitor`` reads those)."""
        from aiforge.monitor import DriftSettings, detect_drift, reference_of

        settings = DriftSettings(method=method, threshold=threshold, alpha=alpha)
        frame = _frame(records)
        with self._registry() as registry:
            chosen = _version(registry, self.name, version)
            reference = reference_of(registry, chosen)
        missing = [c for c in reference.columns if c not in frame.columns]
        if missing:
            raise DataError(f"the records lack {len(missing)} input column(s) of {self.name} v{chosen.version}",
                            expected=f"every column of: {', '.join(reference.columns)}",
                            found=f"missing {', '.join(missing)}", hint="pass rows with the model's input columns")
        return detect_drift(reference, frame, settings=settings)

    def monitor(self, *, window: str | None = None, last: int | None = None,
                version: int | None = None) -> MonitorReport:
        """Drift and production KPIs of the predictions the server logged, as ``aiforge monitor report``:
        ``window`` a period to look back (30m, 6h, 1d), ``last`` the newest N predictions."""
        from aiforge.monitor import monitor_report, parse_period

        period = parse_period(window) if window else None
        with self._registry() as registry:
            return monitor_report(registry, self.name, period=period, last=last, version=version)

    def _repr_html_(self) -> str:
        spec = self.spec
        kpis = [("", [h.e(k.label), h.num(k.min), h.num(k.max)]) for k in spec.kpis]
        budget = spec.model.search.budget
        limits = ", ".join(part for part in (f"{budget.seconds:g} s" if budget.seconds else "",
                                             f"{budget.trials} trials" if budget.trials else "") if part)
        sources = ", ".join(f"{s.name} ({s.type})" for s in spec.data.sources)
        description = f"<p class=\"desc\">{h.e(spec.problem.description)}</p>" if spec.problem.description else ""
        body = (f"<section><h1>{h.e(self.name)}</h1>{description}<dl>"
                f"<dt>project file</dt><dd>{h.e(self.path)}</dd><dt>workspace</dt><dd>{h.e(self.settings.root)}</dd>"
                f"<dt>task</dt><dd>{h.e(spec.problem.task.value)}, target {h.e(spec.problem.target)}</dd>"
                f"<dt>sources</dt><dd>{h.e(sources)}</dd>"
                f"<dt>learners</dt><dd>{h.e(', '.join(spec.model.learners))}</dd>"
                f"<dt>search</dt><dd>{h.e(spec.model.search.strategy)}{h.e(', budget ' + limits) if limits else ''}"
                f"</dd></dl></section>"
                + h.section("kpis", "KPIs (each one a release gate)",
                            h.table(["KPI", "min", "max"], kpis, {1, 2}) if kpis else
                            "<p class=\"muted\">None: nothing gates this model.</p>"))
        return h.fragment(body)


def _version(registry: ModelRegistry, name: str, number: int | None) -> ModelVersion:
    from aiforge.registry import served_version

    if number is not None:
        return registry.get(name, number)
    return served_version(registry.versions(name)) or registry.latest(name)


def _frame(records: Any) -> pd.DataFrame:
    """Records as a DataFrame: a DataFrame as it is, a dict as one row, a list of dicts as rows."""
    import pandas as pd

    if isinstance(records, pd.DataFrame):
        frame = records
    elif isinstance(records, Mapping):
        frame = pd.DataFrame([dict(records)])
    elif isinstance(records, Sequence) and not isinstance(records, str | bytes) and all(
            isinstance(r, Mapping) for r in records):
        frame = pd.DataFrame([dict(r) for r in records])
    else:
        raise DataError("records must be a DataFrame, a dict (one record) or a list of dicts",
                        found=type(records).__name__, hint='e.g. [{"age": 39, "sex": "Male", ...}]')
    if frame.empty:
        raise DataError("no records to score", found="0 rows", hint="pass at least one record")
    return frame
