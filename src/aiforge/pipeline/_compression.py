"""``model.compress`` in the life cycle: what the project file may ask, and the ``compress`` stage.

The stage runs after ``train``: when the chosen model is a torch network (``mlp``), it is compressed
(``learn.compress_model``: pruning, fine-tuning, int8 quantisation), measured against the trained model on
the test split (``evaluate.compression_result``: size, latency, accuracy) and stored; the compressed model
is then the one evaluated, checked, gated and registered. When another learner won, nothing is
compressed and the stage says why: the ``compression`` result is "skipped", and a KPI on its figures fails.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from aiforge.errors import Problem
from aiforge.evaluate import CHECK_METRICS, compression_result, compression_skipped
from aiforge.learn import LEARNERS, NotCompressible, compress_model
from aiforge.spec import ProjectFile, TaskKind

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from aiforge.evaluate import Metric
    from aiforge.spec import CompressSpec

__all__ = ["compress_stage", "compression_problems"]


def compression_problems(project: ProjectFile) -> list[Problem]:
    """What ``model.compress`` and the KPIs on its figures need: a torch learner to compress, no fairness
    mitigation (which refits or wraps the network), and ``model.compress`` itself for such a KPI."""
    spec = project.spec
    compress = spec.model.compress
    figures = {name for name, m in CHECK_METRICS.items() if m.check == "compression"}
    problems: list[Problem] = []
    for i, kpi in enumerate(spec.kpis):
        if kpi.metric not in figures:
            continue
        if compress is None:
            problems.append(project.problem(
                ("kpis", i, "metric"), f"KPI '{kpi.metric}' measures compression, but model.compress is not set",
                hint="add model.compress (e.g. {prune: 0.5, quantize: dynamic}), or drop this KPI"))
        elif kpi.metric == "compression_accuracy_drop" and spec.problem.task is TaskKind.REGRESSION:
            problems.append(project.problem(
                ("kpis", i, "metric"), "compression_accuracy_drop is measured for classification only",
                expected="compression_score_drop (the primary metric) for a regression task", found=kpi.metric,
                hint="gate on compression_score_drop instead"))
    if compress is None:
        return problems
    torch_learners = [n for n in spec.model.learners if n in LEARNERS and LEARNERS[n].requires == "torch"]
    if not torch_learners:
        problems.append(project.problem(
            ("model", "compress"), "model.compress compresses a torch network, but model.learners lists none",
            expected="a torch learner in model.learners: " + ", ".join(
                sorted(n for n, learner in LEARNERS.items() if learner.requires == "torch")),
            found=", ".join(spec.model.learners), hint="add mlp to model.learners, or remove model.compress"))
    if spec.checks.fairness.mitigation != "none":
        problems.append(project.problem(
            ("model", "compress"), f"model.compress cannot be combined with checks.fairness.mitigation "
            f"({spec.checks.fairness.mitigation}): mitigation refits or wraps the network, which would undo or "
            f"bypass its compression", hint="remove model.compress or the mitigation"))
    return problems


def compress_stage(trained: bytes, spec: CompressSpec, train: pd.DataFrame, test: pd.DataFrame, target: str,
                   primary: Metric, seed: int, put: Callable[[bytes], str],
                   step: Callable[[str], None]) -> dict[str, Any]:
    """The ``compress`` stage's outputs: the compressed model's artifact (``model``, stored with ``put``; None
    when nothing was compressed), what compression did (``record``) and the measurements (``check``, a
    ``compression`` CheckResult as JSON)."""
    import joblib

    model = joblib.load(io.BytesIO(trained))
    step("compressing the network")
    try:
        compressed, record = compress_model(model, spec, train, train[target], seed=seed)
    except NotCompressible as exc:
        return {"model": None, "record": None, "check": compression_skipped(str(exc)).to_json()}
    step("measuring size, latency and accuracy before and after")
    result = compression_result(model, compressed, test, target, primary, record.to_json(), seed=seed)
    buffer = io.BytesIO()
    joblib.dump(compressed, buffer)
    digest = put(buffer.getvalue())
    return {"model": digest, "record": record.to_json(), "check": result.to_json(), "_artifacts": [digest]}


def compression_note(outputs: dict[str, Any]) -> str:
    """The stage's line in the progress: the figures, or why nothing was compressed."""
    check = outputs["check"]
    if check["status"] != "ok":
        return f"not compressed: {check['reason']}"
    m = check["metrics"]
    drop = m.get("compression_accuracy_drop", m["compression_score_drop"])
    return (f"size x{m['compression_size_ratio']:.2f}, {m['compression_speedup']:.2f}x faster per 1000 rows, "
            f"{'accuracy' if 'compression_accuracy_drop' in m else 'score'} drop {drop:+.4f}")
