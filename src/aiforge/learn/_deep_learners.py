"""Learners backed by torch networks (``aiforge.deep``, the optional ``deep`` extra).

``mlp``: a multilayer perceptron on the ordinal-encoded, scaled table; each categorical column's codes
get an embedding. Its search space, like every learner's, is a function of the data's size and task:
smaller tables get narrower networks, smaller batches and more epochs. Early stopping on the search's
validation fold picks the number of epochs (``Fitted.rounds``), which the refit on the whole training
split trains; the search's deadline stops a fold after the step that passes it.

``model.augment`` adds Gaussian noise to the numeric columns of each training batch (``noise``; image operations
are for image learners), in every trial or, with ``search: true``, as a searched ``augment`` on/off choice.
``model.adversarial`` trains every configuration adversarially (PGD or FGSM on a share of each batch);
``model.privacy`` trains it with DP-SGD (Opacus, the ``privacy`` extra) to the budget given, per fit.
"""

from __future__ import annotations

from typing import Any

from aiforge.learn._learners import Fitted, Learner, _with_imbalance, register
from aiforge.learn._space import Choice, FloatRange, IntRange, SearchSpace
from aiforge.spec import ModelSpec, TaskKind

__all__ = ["MLP", "TorchLearner", "augment_choice", "augment_fixed", "augment_space"]

SMALL_ROWS = 5_000
LARGE_ROWS = 100_000


def _sizes(n_rows: int) -> tuple[int, tuple[int, int], int, int]:
    """(widest layer, batch size range, most epochs, most layers) for a table of ``n_rows`` rows."""
    if n_rows < SMALL_ROWS:
        return (64 if n_rows < 1000 else 128), (16, max(32, min(256, n_rows // 8))), 200, 3
    if n_rows < LARGE_ROWS:
        return 256, (64, 1024), 100, 3
    return 512, (256, 4096), 30, 4


def augment_fixed(model: ModelSpec) -> dict[str, Any]:
    """``model.augment`` as a torch learner's fixed parameters: ``augment`` (every trial), or, with ``search:
    true``, ``augment_options`` that the trial's searched ``augment`` choice turns on or off."""
    if model.augment is None:
        return {}
    return {"augment_options" if model.augment.search else "augment": model.augment.operations()}


def augment_space(model: ModelSpec) -> SearchSpace:
    """The searched on/off ``augment`` choice (off first: the known-good configuration starts without)."""
    if model.augment is not None and model.augment.search:
        return {"augment": Choice((False, True))}
    return {}


def augment_choice(params: dict[str, Any]) -> dict[str, Any]:
    """The estimator's parameters: a searched ``augment`` choice resolved to the operations or None."""
    params = dict(params)
    options = params.pop("augment_options", None)
    if options is not None:
        params["augment"] = options if params.pop("augment", False) else None
    return params


class TorchLearner(Learner):
    """What the torch learners share: the optional ``deep`` extra, epochs as the size parameter, early stopping
    on the fold's validation rows in a trial and the epochs it chose in the refit, one thread when served."""

    row_parallel = False  # batches are already parallel (torch threads) or padded per batch
    requires = "torch"
    extra = "deep"
    size_param = "max_epochs"

    def fit(self, estimator: Any, X: Any, y: Any, categorical: list[int],
            eval_set: tuple[Any, Any] | None = None, deadline: float | None = None) -> Fitted:
        if eval_set is None:  # the refit: max_epochs is what early stopping chose on the folds
            estimator.set_params(validation_fraction=0.0)
            estimator.fit(X, y, deadline=deadline)
            return Fitted()
        estimator.fit(X, y, eval_set=eval_set, deadline=deadline)
        history = estimator.history_
        if history is None:  # nothing trained (a seq2seq checkpoint used as it is: max_epochs 0)
            return Fitted()
        return Fitted(int(history.best_epoch), cut=bool(history.cut))

    def serve(self, estimator: Any) -> None:
        # one thread answers the small batches a server sees faster than a pool does
        estimator.set_params(n_jobs=1)


@register
class MLP(TorchLearner):
    name = "mlp"
    priority = 70  # slower per trial than the tree learners on tables: tried after them under a tight budget
    description = ("torch multilayer perceptron: category embeddings, batch norm, dropout, AdamW with warm-up and "
                   "cosine decay, early stopping (optional: pip install 'aiforge[deep]')")
    encoding = "ordinal"
    scale = True
    private = True
    private_requires = "opacus"
    augments = frozenset({"noise"})  # a table: no image operations

    @classmethod
    def search_space(cls, n_rows: int, task: TaskKind) -> SearchSpace:
        width, (batch_low, batch_high), epochs, layers = _sizes(n_rows)
        space: SearchSpace = {
            "hidden_width": IntRange(16, width, log=True),
            "hidden_layers": IntRange(1, layers),
            "dropout": FloatRange(0.0, 0.5),
            "lr": FloatRange(1e-4, 1e-2, log=True),
            "weight_decay": FloatRange(1e-6, 1e-1, log=True),
            "batch_size": IntRange(batch_low, batch_high, log=True),
            "max_epochs": IntRange(10, epochs, log=True),
        }
        return _with_imbalance(space, task)

    @classmethod
    def init_config(cls, n_rows: int, task: TaskKind) -> dict[str, Any]:
        width, (batch_low, batch_high), epochs, _ = _sizes(n_rows)
        config: dict[str, Any] = {"hidden_width": min(128, width), "hidden_layers": 2, "dropout": 0.1, "lr": 3e-3,
                                  "weight_decay": 1e-4, "batch_size": min(batch_high, max(batch_low, 4 * batch_low)),
                                  "max_epochs": min(100, epochs)}
        return {**config, "class_weight": None, "resample": "none"} if task.is_classification else config

    @classmethod
    def fixed_params(cls, model: ModelSpec, task: TaskKind) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if model.adversarial is not None:
            params["adversarial"] = model.adversarial.model_dump()
        if model.privacy is not None:
            params["privacy"] = model.privacy.model_dump()
        return {**params, **augment_fixed(model)}

    @classmethod
    def project_space(cls, model: ModelSpec, task: TaskKind) -> SearchSpace:
        return augment_space(model)

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int], params: dict[str, Any]) -> Any:
        if not self.available():
            raise self.missing_message()
        from aiforge.deep import MLPClassifier, MLPRegressor

        cls = MLPRegressor if task is TaskKind.REGRESSION else MLPClassifier
        params = augment_choice(params)
        return cls(categorical=list(categorical), random_state=seed, n_jobs=n_jobs, **params)

