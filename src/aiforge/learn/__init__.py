"""Algorithm selection and training: task detection, the learner registry, cross-validated selection."""

from aiforge.learn import (  # noqa: F401  (registers learners)
    _deep_learners,
    _image_learners,
    _text_learners,
    _transformer_learners,
)
from aiforge.learn._caches import cold_caches, shared_embeddings
from aiforge.learn._compiled import ONNX_PATH, CompiledModel, compile_model
from aiforge.learn._compress import NotCompressible, compress_model
from aiforge.learn._inference import InferencePlan, plan_inference
from aiforge.learn._learners import LEARNERS, Learner, register
from aiforge.learn._mitigate import MitigatedModel, mitigate
from aiforge.learn._model import FeatureSet, TabularModel, choose_features, whole_batches
from aiforge.learn._onnx import onnx_versions
from aiforge.learn._refit import refit_full
from aiforge.learn._search import TrialRecord
from aiforge.learn._select import (
    CandidateResult,
    Objective,
    SelectionReport,
    TrainingFailed,
    refit_trial,
    select_and_fit,
)
from aiforge.learn._space import Choice, FloatRange, IntRange
from aiforge.learn._task import TaskInfo, resolve_task
from aiforge.learn._threshold import ThresholdGoal, tune_threshold

__all__ = [
    "LEARNERS",
    "ONNX_PATH",
    "CandidateResult",
    "Choice",
    "CompiledModel",
    "FeatureSet",
    "FloatRange",
    "InferencePlan",
    "IntRange",
    "Learner",
    "MitigatedModel",
    "NotCompressible",
    "Objective",
    "SelectionReport",
    "TabularModel",
    "TaskInfo",
    "ThresholdGoal",
    "TrainingFailed",
    "TrialRecord",
    "choose_features",
    "cold_caches",
    "compile_model",
    "compress_model",
    "mitigate",
    "onnx_versions",
    "plan_inference",
    "refit_full",
    "refit_trial",
    "register",
    "resolve_task",
    "select_and_fit",
    "shared_embeddings",
    "tune_threshold",
    "whole_batches",
]
