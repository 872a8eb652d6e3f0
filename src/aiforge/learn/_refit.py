"""Refit the chosen model on more rows: the same learner(s) and configuration, grown to the rows.

``model.refit_full`` trains the registered model on the training and test rows together once the model
fit on the training rows has been evaluated and gated (AutoGluon's ``refit_full``, FLAML's
``retrain_full``): nothing is searched again, so the refit is the evaluated recipe with more data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiforge.learn._ensemble import WeightedEnsemble
from aiforge.learn._learners import LEARNERS
from aiforge.learn._model import TabularModel, target_values
from aiforge.learn._select import SelectionReport, _fit_pipeline, _refit_params, resolve_n_jobs

if TYPE_CHECKING:
    import pandas as pd

    from aiforge.learn._task import TaskInfo
    from aiforge.spec import ModelSpec

__all__ = ["refit_full"]


def refit_full(model: TabularModel, selection: SelectionReport, X: pd.DataFrame, y: pd.Series, task: TaskInfo,
               spec: ModelSpec, *, fitted_rows: int) -> TabularModel:
    """``model`` (as ``selection`` chose it, fit on ``fitted_rows`` rows) refit on all of ``X``: a single
    learner with its chosen configuration, an ensemble member by member with its weights. Boosting grows
    its rounds in proportion to the rows (early stopping chose them for fewer); the decision threshold is
    the evaluated model's."""
    if type(model) is not TabularModel:
        raise TypeError(f"refit_full refits a trained model, not a {type(model).__name__} (compressed or mitigated "
                        "models are registered as the training rows made them)")
    y_enc = target_values(y, task.kind, task.classes)
    cores = resolve_n_jobs(spec.n_jobs)
    growth = len(X) / max(1, fitted_rows)
    features = model.features
    if selection.ensemble is not None and selection.ensemble.get("kept"):
        trials = {t.number: t for t in selection.trials}
        encoders: dict[tuple[str, bool], tuple[Any, Any, list[int]]] = {}
        members = []
        for member in selection.ensemble["members"]:
            trial = trials[int(member["trial"])]
            params = _grown(trial.learner, _refit_params(trial, selection.cv_folds), growth)
            members.append((_fit_pipeline(trial.learner, task.kind, features, spec.seed, cores, params, X, y_enc,
                                          encoders), float(member["weight"])))
        estimator: Any = WeightedEnsemble(members, task.kind)
    else:
        estimator = _fit_pipeline(selection.best, task.kind, features, spec.seed, cores,
                                  _grown(selection.best, _chosen_params(selection), growth), X, y_enc)
    return TabularModel(estimator, task.kind, task.classes, features, model.learner, target=model.target,
                        threshold=model.threshold)


def _chosen_params(selection: SelectionReport) -> dict[str, Any]:
    """The single learner's configuration as refit on the training rows; with ``search.refit: false`` (the
    holdout's model kept as trained), its trial's, grown to the rounds early stopping chose."""
    params = dict(selection.best_params)
    if params.pop("refit", True) is not False:
        return params
    trial = next(t for t in selection.trials if t.learner == selection.best and t.status == "complete"
                 and t.params == params)
    return _refit_params(trial, selection.cv_folds)


def _grown(learner: str, params: dict[str, Any], growth: float) -> dict[str, Any]:
    """A boosting learner's rounds scaled to ``growth`` times the rows; other learners as they are."""
    kind = LEARNERS[learner]
    if kind.boosting and kind.size_param is not None and kind.size_param in params:
        params = {**params, kind.size_param: max(1, round(int(params[kind.size_param]) * growth))}
    return params
