"""``model.compare`` in the life cycle: the ``compare`` stage.

After ``evaluate``, every learner with a complete trial has its best trial refit from scratch on the training
split (``learn.refit_trial`` under ``learn.cold_caches``: a frozen encoder's embeddings are computed anew, so the
fit costs what it would cost in a new process), timed in wall and CPU seconds, then all of them are measured on
the test split side by side (``evaluate.compare_models``). When the model registered is not one of those refits
(an ensemble, a mitigated or compressed model), it is measured beside them as ``served``. The stage's output is
the report's "Learners compared" section; it gates nothing.
"""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, Any

from aiforge.evaluate import Candidate, compare_models
from aiforge.learn import cold_caches, refit_trial

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from aiforge.evaluate import Metric
    from aiforge.learn import FeatureSet, SelectionReport, TaskInfo
    from aiforge.spec import ProjectSpec

__all__ = ["compare_stage", "comparison_note"]


def compare_stage(spec: ProjectSpec, selection: SelectionReport, served: bytes, served_is_best: bool,
                  train: pd.DataFrame, test: pd.DataFrame, target: str, task: TaskInfo, features: FeatureSet,
                  primary: Metric, step: Callable[[str], None]) -> dict[str, Any]:
    """The ``compare`` stage's output: ``comparison`` (a ``LearnerComparison`` as JSON). ``served`` is the
    registered model's artifact; ``served_is_best`` when it is the plain refit of the chosen learner."""
    import joblib

    learners = [c.learner for c in selection.candidates if c.status == "ok"]
    cv = {c.learner: c.mean for c in selection.candidates}
    candidates: list[Candidate] = []
    for learner in learners:
        step(f"refitting {learner} from scratch on the {len(train):,} training rows")
        wall, cpu = time.perf_counter(), time.process_time()
        with cold_caches():
            model = refit_trial(learner, selection, train, train[target], task, features, spec.model)
        candidates.append(Candidate(learner, model, chosen=served_is_best and learner == selection.best,
                                    cv_score=cv.get(learner), fit_seconds=time.perf_counter() - wall,
                                    fit_cpu_seconds=time.process_time() - cpu))
    if not served_is_best:
        model = joblib.load(io.BytesIO(served))
        candidates.append(Candidate("served", model, chosen=True, cv_score=selection.best_score,
                                    note=f"the registered model ({getattr(model, 'learner', selection.best)}); "
                                         "its training is the run's train stage"))
    step(f"measuring {len(candidates)} models on the {len(test):,} test rows")
    comparison = compare_models(candidates, test, target, primary, spec.checks.energy, seed=spec.model.seed)
    return {"comparison": comparison.to_json()}


def comparison_note(outputs: dict[str, Any]) -> str:
    """The stage's line in the progress: each model's primary test figure and one-row p50."""
    data = outputs["comparison"]
    return "; ".join(f"{r['learner']} {data['objective']} {r['metrics'].get(data['objective'], float('nan')):.4f}, "
                     f"{r['one_row_ms_p50']:.1f} ms/row" for r in data["rows"])
