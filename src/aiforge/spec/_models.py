"""The project file as pydantic models: every section, with ``extra="forbid"`` everywhere.

Names of plug-ins (learners, metrics, source types) are checked here only for their shape;
the packages that own each registry check the names themselves (see
``aiforge.pipeline.load_project``), so that this package imports nothing above it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator, model_validator

from aiforge.spec._augment import AugmentSpec, Resampler
from aiforge.spec._compress import CompressSpec
from aiforge.spec._contract import Contract
from aiforge.spec._decision import DecisionSpec
from aiforge.spec._deploy import DeploySpec
from aiforge.spec._mlops import CiSpec, ScheduleSpec
from aiforge.spec._monitor import MonitorSpec
from aiforge.spec._pii import KAnonymitySpec, PiiAction, PiiPolicy
from aiforge.spec._sources import SourceSpec
from aiforge.spec._steps import EtlStep, JoinStep
from aiforge.spec._workspace import WorkspaceSpec

__all__ = [
    "AdversarialSpec",
    "Budget",
    "Checks",
    "DataSpec",
    "EnergyCheck",
    "EnsembleSpec",
    "ExplainCheck",
    "FairnessCheck",
    "ImportanceCheck",
    "Kpi",
    "LabelNoiseCheck",
    "ModelSpec",
    "PrivacyCheck",
    "PrivacySpec",
    "ProblemSpec",
    "ProjectSpec",
    "RobustnessCheck",
    "SearchSpec",
    "SplitSpec",
    "TaskKind",
    "ThresholdSpec",
]

DEFAULT_LEARNERS = ["linear", "random_forest", "extra_trees", "hist_gradient_boosting", "lightgbm"]


class TaskKind(StrEnum):
    """What kind of prediction the project makes."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"
    AUTO = "auto"
    TEXT_GENERATION = "text_generation"  # text in, text out (model.seq2seq): never detected, the user names it

    @property
    def is_classification(self) -> bool:
        return self in (TaskKind.BINARY, TaskKind.MULTICLASS)

    @property
    def is_generation(self) -> bool:
        return self is TaskKind.TEXT_GENERATION


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProblemSpec(_Strict):
    """What is predicted, from which column, and why."""

    task: TaskKind = Field(
        TaskKind.AUTO, description="binary | multiclass | regression | auto (detected from the target) | "
        "text_generation (a text target generated from data.text_columns by the seq2seq learner; never detected)"
    )
    target: str = Field(min_length=1, description="The column to predict.", examples=["income", "churned"])
    positive_class: str | int | bool | None = Field(
        None, description="For binary tasks: the label that counts as positive (e.g. '>50K')."
    )
    description: str = Field("", description="What the model is for, in a sentence; shown in the report.")

    @field_validator("positive_class")
    @classmethod
    def _positive_class_needs_classification(cls, value: object, info: ValidationInfo) -> object:
        task = info.data.get("task")
        if value is not None and task in (TaskKind.REGRESSION, TaskKind.MULTICLASS):
            raise ValueError(
                f"positive_class only applies to binary tasks, but task is '{task.value}'; "
                "remove positive_class or set task: binary"
            )
        return value


class Kpi(_Strict):
    """A business or technical KPI. Every KPI is a release gate."""

    metric: str = Field(min_length=1, description="A metric name: a model metric (roc_auc, f1, rmse, ...) or a "
                        "check's figure (demographic_parity_difference, p99_latency_ms, ...); docs/checks.md lists "
                        "them.", examples=["roc_auc", "rmse", "demographic_parity_difference"])
    min: float | None = Field(None, description="The metric must be at least this.")
    max: float | None = Field(None, description="The metric must be at most this.")
    sensitive: str | None = Field(
        None, description="For fairness metrics: the sensitive attribute (a column)."
    )

    @model_validator(mode="after")
    def _needs_a_bound(self) -> Kpi:
        if self.min is None and self.max is None:
            raise ValueError(f"KPI '{self.metric}' needs a bound: add min: or max:")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"KPI '{self.metric}' has min {self.min} above max {self.max}")
        return self

    @property
    def label(self) -> str:
        return self.metric if self.sensitive is None else f"{self.metric}[{self.sensitive}]"



class SplitSpec(_Strict):
    """How the held-out test split is drawn."""

    test_size: float = Field(0.2, gt=0.0, lt=1.0, description="The share of rows held out; the KPIs are "
                             "measured on them.")
    stratify: bool = Field(True, description="Keep class proportions in both splits (classification).")
    seed: StrictInt = Field(42, description="Seed of the split: the same seed and data, the same split.")


class DataSpec(_Strict):
    """Where the data comes from and how it is split. Several sources are stacked by column name."""

    sources: list[SourceSpec] = Field(min_length=1, description="Where the rows come from, one entry per "
                                      "source; type: picks its kind (csv, parquet, json, sql, http, redis). Several "
                                      "sources are stacked by column name.")
    steps: list[EtlStep] = Field(default_factory=list, description="Declarative ETL, run in DuckDB over the "
                                 "stacked sources (those no join names): select, rename, cast, filter, derive, join, "
                                 "aggregate, deduplicate, impute, clip.")
    contract: Contract = Field(default_factory=Contract, description="Rules the data (after steps) must keep: "
                               "row count bounds, and per column type, nullable, max_missing, min, max, allowed, "
                               "unique, pattern, freshness. A broken rule stops the run before training.")
    pii: list[PiiAction] = Field(default_factory=list, description="Per column, what happens to personal data "
                                 "before the snapshot is written: drop, pseudonymise (keyed HMAC) or generalise "
                                 "(bins, truncate).")
    pii_policy: PiiPolicy = Field(default_factory=PiiPolicy, description="How personal data are detected on "
                                  "ingest, and whether finding some in a column data.pii leaves alone warns or fails.")
    k_anonymity: KAnonymitySpec | None = Field(None, description="The quasi-identifiers, and the smallest group "
                                               "of rows their values may leave (checked after data.pii).")
    split: SplitSpec = Field(SplitSpec(), description="How the held-out test split is drawn.")
    text_columns: list[str] | None = Field(
        None, description="The input columns that hold free text, for the text learners (tfidf, transformer) and "
        "text monitoring. Unset: string columns whose values average >= 30 characters and >= 4 words, half of them "
        "distinct, are recognised as text (the run says why); [] turns recognition off.",
        examples=[["review"]])

    @model_validator(mode="after")
    def _names(self) -> DataSpec:
        columns = [a.column for a in self.pii]
        twice = sorted({c for c in columns if columns.count(c) > 1})
        if twice:
            raise ValueError(f"data.pii names a column more than once: {', '.join(twice)}")
        if self.k_anonymity is not None:
            dropped = {a.column for a in self.pii if a.action == "drop"}
            gone = [c for c in self.k_anonymity.quasi_identifiers if c in dropped]
            if gone:
                raise ValueError(f"k_anonymity names {', '.join(gone)}, which data.pii drops")
        names = [s.name for s in self.sources]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"source names must be unique; repeated: {', '.join(repeated)}")
        joined = [step.join.source for step in self.steps if isinstance(step, JoinStep)]
        for name in joined:
            if name not in names:
                raise ValueError(f"a join step names source '{name}', which data.sources does not define "
                                 f"(sources: {', '.join(names)})")
        if joined and set(names) <= set(joined):
            raise ValueError("every source is joined into another: leave at least one source the joins start from")
        return self


class Budget(_Strict):
    """When the search stops: after this many seconds and/or this many trials (the first reached).

    Without a budget, ``defaults`` and ``grid`` try everything; ``random`` and ``bayesian`` stop
    after 30 trials.
    """

    seconds: float | None = Field(None, gt=0, description="Stop starting trials after this many seconds.")
    trials: StrictInt | None = Field(None, ge=1, description="Stop after this many trials.")


class SearchSpec(_Strict):
    """How candidate configurations are found and compared (cross-validation on the training split)."""

    strategy: Literal["defaults", "grid", "random", "bayesian"] = Field(
        "defaults",
        description="defaults: each learner once with its known-good configuration; grid: every "
        "combination of grid_points values per hyperparameter; random: random sampling; bayesian: "
        "Optuna TPE. Every strategy starts from the known-good configurations.",
    )
    cv: Annotated[StrictInt, Field(ge=2, le=20)] | Literal["auto"] = Field(
        "auto",
        description="Number of cross-validation folds (2-20), or auto: 5 folds on small tables, 3 on "
        "medium ones, one stratified 80/20 holdout on tables too large for the time budget to afford "
        "folds (the rule is in docs/project-file.md).",
    )
    cv_strategy: Literal["auto", "stratified", "kfold", "group", "time_series", "holdout"] = Field(
        "auto", description="auto: stratified for classification, kfold for regression (or holdout, "
        "when cv: auto finds the table too large); holdout: one validation split of 20 %, stratified "
        "for classification.",
    )
    group_column: str | None = Field(
        None, description="For cv_strategy: group — rows of a group stay in one fold; the column is not a feature."
    )
    time_column: str | None = Field(
        None, description="For cv_strategy: time_series — rows are ordered by this column; each fold "
        "validates on rows later than those it trains on.",
    )
    pruner: Literal["none", "median", "successive_halving", "hyperband"] = Field(
        "successive_halving", description="Stops unpromising trials after their first folds (random, bayesian)."
    )
    grid_points: StrictInt = Field(3, ge=1, le=10, description="Values per numeric hyperparameter (grid).")
    metric: str | None = Field(
        None,
        description="The metric candidates are ranked by; default: the first KPI that applies, else "
        "roc_auc (binary), accuracy (multiclass), rmse (regression).",
    )
    budget: Budget = Field(Budget(), description="When the search stops: seconds and/or trials.")
    refit: bool = Field(
        True, description="Train the winner again on the whole training split (true), or keep it as the search "
        "trained it (false) when the search validated on one holdout split (cv_strategy: holdout, or cv: auto's "
        "holdout): half the training time of a deep network on a large dataset, for a model that saw 80% of the "
        "rows. With folds, the winner is always refit.",
    )
    energy_tolerance: float | None = Field(
        None, ge=0, description="Weigh energy against accuracy: pick the trial cheapest to train and serve "
        "(CPU time per fold, then prediction time) among those whose CV score is within this much of the best, "
        "and keep an ensemble only when it gains more than this. Unset: the most accurate wins.",
    )

    @field_validator("cv", mode="before")
    @classmethod
    def _cv_value(cls, value: Any) -> Any:
        if value == "auto" or (type(value) is int and 2 <= value <= 20):
            return value
        raise ValueError("cv must be a number of folds from 2 to 20, or auto")

    @model_validator(mode="after")
    def _cv_columns(self) -> SearchSpec:
        if self.cv_strategy == "group" and not self.group_column:
            raise ValueError("cv_strategy: group needs group_column: the column that holds the groups")
        if self.cv_strategy == "time_series" and not self.time_column:
            raise ValueError("cv_strategy: time_series needs time_column: the column that orders the rows")
        return self


class EnsembleSpec(_Strict):
    """Greedy ensemble selection over the best trials' out-of-fold predictions."""

    enabled: bool = Field(True, description="Try an ensemble; it is kept only when it wins on validation.")
    candidates: StrictInt = Field(15, ge=2, le=100, description="How many of the best trials may join.")
    rounds: StrictInt = Field(20, ge=2, le=200, description="Rounds of greedy selection (with replacement).")
    max_members: StrictInt = Field(
        5, ge=2, le=50, description="At most this many distinct models: each one adds to the prediction time."
    )
    keep_gain: float = Field(
        0.9, gt=0, le=1, description="After selection, the slowest members are dropped while the ensemble keeps "
        "this share of its gain over the best single trial (1: drop none that help).",
    )
    max_slowdown: float | None = Field(
        2.0, ge=1, description="The members together may take at most this many times the best single trial's "
        "prediction time (timed on the validation rows); past it, the member the ensemble misses least is "
        "dropped, again until it fits. null: no limit.",
    )


class ThresholdSpec(_Strict):
    """Binary tasks: tune the decision threshold on out-of-fold predictions (default 0.5)."""

    maximise: str = Field(description="A label metric to maximise: f1, precision, recall, accuracy, balanced_accuracy.")
    subject_to: Kpi | None = Field(None, description="A bound that must hold, e.g. {metric: recall, min: 0.8}.")


class AdversarialSpec(_Strict):
    """Adversarial training of the torch learners (mlp): a share of every mini-batch is replaced by FGSM or
    PGD versions of its rows, made against the network as it trains. Other learners ignore it."""

    method: Literal["pgd", "fgsm"] = Field(
        "pgd", description="pgd: projected gradient descent from a random start (Madry et al.); fgsm: one signed "
        "gradient step to the edge of the box (cheaper, weaker)."
    )
    epsilon: float = Field(
        0.1, gt=0, le=2, description="Largest change of a numeric input, in standard deviations (as "
        "checks.robustness.epsilon): train at the budget the robustness check attacks with."
    )
    steps: StrictInt = Field(7, ge=1, le=100, description="pgd: gradient steps per adversarial row.")
    ratio: float = Field(
        0.5, gt=0, le=1, description="Share of each mini-batch's rows replaced by adversarial versions (1: all)."
    )


class PrivacySpec(_Strict):
    """Differentially private training: every learner must train privately (dp_linear; mlp by DP-SGD with
    Opacus, the privacy extra), to this budget per fit."""

    epsilon: float = Field(gt=0, le=100, description="The privacy budget epsilon of the final model's training.")
    delta: float = Field(
        1e-5, gt=0, lt=1, description="The budget's delta (mlp, and dp_linear for regression); keep it below "
        "1 / training rows."
    )
    max_grad_norm: float = Field(
        1.0, gt=0, description="mlp: the L2 norm each row's gradient is clipped to before the noise is added."
    )


TransformerMode = Literal["frozen", "finetune"]


def _transformer_modes() -> list[TransformerMode]:
    return ["frozen", "finetune"]


class TransformerSpec(_Strict):
    """The transformer learner's checkpoint and how it is trained."""

    checkpoint: str = Field("minilm", description="A local Hugging Face model folder (what save_pretrained writes; "
                            "relative paths from where aiforge runs), or minilm: all-MiniLM-L6-v2 as the "
                            "transformers extra packages it. Nothing is ever downloaded.",
                            examples=["minilm", "models/my-bert"])
    modes: list[TransformerMode] = Field(
        default_factory=_transformer_modes, min_length=1,
        description="The training modes the search tries, the first in the known-good configuration: frozen (a head "
        "on cached sentence embeddings: seconds) and finetune (the whole encoder learns: minutes on a CPU).")
    max_length: StrictInt = Field(128, ge=8, le=4096, description="Tokens per text at most (longer texts are cut).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where it trains and predicts: auto takes "
                                                   "a CUDA GPU when torch sees one.")


class Seq2SeqSpec(_Strict):
    """The seq2seq learner (problem.task: text_generation): a local sequence-to-sequence checkpoint."""

    checkpoint: str = Field(min_length=1, description="A local Hugging Face seq2seq model folder (T5, BART, "
                            "Marian...: what save_pretrained writes; relative paths from where aiforge runs). "
                            "Nothing is ever downloaded.", examples=["models/opus-mt-en-de"])
    max_source_length: StrictInt = Field(128, ge=4, le=4096, description="Source tokens per text at most "
                                         "(longer texts are cut).")
    max_target_length: StrictInt = Field(64, ge=1, le=4096, description="Tokens generated per text at most.")
    num_beams: StrictInt = Field(1, ge=1, le=32, description="Beam search width when generating; 1: greedy.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where it trains and generates: auto "
                                                   "takes a CUDA GPU when torch sees one.")


class ModelSpec(_Strict):
    """Which learners compete, and how they are compared."""

    learners: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LEARNERS), min_length=1,
        description="The candidate learners, by name: linear, random_forest, extra_trees, hist_gradient_boosting, "
        "lightgbm, knn, xgboost (the xgboost extra), dp_linear (differentially private), mlp (torch, the deep "
        "extra), tfidf and transformer (text columns; transformer: the transformers extra), seq2seq (problem.task: "
        "text_generation only; the transformers extra); 'aiforge validate' "
        "checks the names.", examples=[["linear", "lightgbm"]],
    )
    search: SearchSpec = Field(SearchSpec(), description="How candidate configurations are found and compared.")
    ensemble: EnsembleSpec = Field(EnsembleSpec(), description="Greedy ensemble selection over the best trials.")
    threshold: ThresholdSpec | None = Field(None, description="Binary tasks: tune the decision threshold for a "
                                            "metric instead of using 0.5.")
    adversarial: AdversarialSpec | None = Field(
        None, description="Adversarial training of the torch learners (mlp), e.g. {method: pgd, epsilon: 0.1, "
        "steps: 7, ratio: 0.5}. Unset: none."
    )
    privacy: PrivacySpec | None = Field(
        None, description="Differentially private training to this budget, e.g. {epsilon: 1.0, delta: 1e-5}: "
        "dp_linear spends epsilon, mlp trains by DP-SGD (Opacus); every learner listed must be one of them. "
        "The budget is reported as privacy_epsilon and privacy_delta. Unset: no DP."
    )
    compress: CompressSpec | None = Field(None, description="Compress the chosen torch network (mlp) after "
                                          "training: prune, fine-tune, quantise; size, latency and accuracy are "
                                          "measured before and after.")
    augment: AugmentSpec | None = Field(None, description="Augment every training batch of the torch learners, "
                                        "e.g. {noise: 0.05} for a table's mlp, {flip: true, crop: 2, noise: 0.05} "
                                        "for images; search: true makes it a hyperparameter. Unset: none.")
    resample: list[Resampler] | None = Field(
        None, min_length=1, description="Classification: the ways of rebalancing each training fold's classes "
        "that the search tries: none, smote, adasyn, synthetic (rows drawn from a Gaussian copula fitted per "
        "class). Unset: none, smote and adasyn, searched when the rarest class has under a quarter of the "
        "commonest's rows.", examples=[["none", "smote", "synthetic"]])
    transformer: TransformerSpec = Field(TransformerSpec(), description="The transformer learner (text columns): "
                                         "its local checkpoint, the modes searched, the longest text, the device.")
    seq2seq: Seq2SeqSpec | None = Field(None, description="The seq2seq learner (problem.task: text_generation, "
                                        "required there): its local checkpoint, the longest source and generated "
                                        "texts, the beam width, the device.")
    compare: bool = Field(
        False, description="Measure every learner's best trial on the test split beside the chosen model: each "
        "is refit from scratch on the training split (one more fit per learner, cold caches), then the report "
        "tables its test metrics, one-row latency (p50, p99), batch time per row, training energy and energy "
        "per 1000 predictions. For choosing knowingly between, e.g., tfidf and a transformer.")
    refit_full: bool = Field(
        False, description="Once the model fit on the training rows is evaluated and passes the gate, refit the "
        "chosen configuration (learner, or ensemble members and weights; boosting rounds grown with the rows) on "
        "the training and test rows together and register that model. Its metrics, checks and gate are those "
        "of the evaluated model, which the lineage names: more data for the served model, at the cost of one "
        "more fit (the search leaves time for it) and of a registered model no held-out row has scored.")
    seed: StrictInt = Field(42, description="Seed for every random choice in training.")
    n_jobs: StrictInt = Field(
        -1, description="Cores to use; -1 means all. With several cores, trials run in parallel; "
        "set 1 for results that are identical run after run under a trial budget.",
    )


class ImportanceCheck(_Strict):
    """Permutation importance of each input column on the held-out split."""

    enabled: bool = Field(True, description="Run this check.")
    repeats: StrictInt = Field(3, ge=1, le=50, description="Shuffles of each column; the importance is their mean.")
    max_rows: StrictInt = Field(2000, ge=50, description="Test rows used at most.")


class FairnessCheck(_Strict):
    """Group fairness of the decisions on the held-out split (fairlearn), and its mitigation.

    The attributes audited are ``sensitive`` plus every ``sensitive:`` a KPI names.
    """

    sensitive: list[str] = Field(
        default_factory=list, description="Columns holding sensitive attributes, e.g. [sex, race]."
    )
    intersections: bool = Field(True, description="Also audit the intersections of pairs of attributes (sex&race).")
    min_group_size: StrictInt = Field(
        30, ge=1, description="Groups with fewer test rows are listed but left out of the disparity figures."
    )
    mitigation: Literal["none", "reweighing", "exponentiated_gradient", "threshold_optimizer"] = Field(
        "none", description="reweighing: refit with weights that make attribute and label independent; "
        "exponentiated_gradient: fairlearn's reductions under the constraint; threshold_optimizer: "
        "per-group decision thresholds (post-processing; the attribute is needed at prediction time).",
    )
    constraint: Literal["demographic_parity", "equalized_odds", "equal_opportunity"] = Field(
        "demographic_parity", description="What the mitigation equalises across groups."
    )
    attribute: str | None = Field(
        None, description="The attribute the mitigation protects; default: the first of sensitive."
    )
    eps: float = Field(0.02, gt=0, le=1, description="exponentiated_gradient: the allowed constraint violation.")


class ExplainCheck(_Strict):
    """Global and local explanations: SHAP contributions for tree models, permutation importance otherwise."""

    enabled: bool = Field(True, description="Run this check.")
    method: Literal["auto", "shap", "permutation"] = Field(
        "auto", description="auto: exact tree SHAP where the model is a tree ensemble, else permutation importance."
    )
    max_rows: StrictInt = Field(1000, ge=10, description="Test rows explained for the global summary.")
    local_rows: StrictInt = Field(5, ge=0, le=100, description="Test rows whose explanations the report shows.")
    permutations: StrictInt = Field(
        32, ge=2, le=1000,
        description="Model-agnostic SHAP (models without a tree explainer): feature orderings sampled per row, "
        "each against one background row; more is more precise and proportionally slower.",
    )
    background_rows: StrictInt = Field(
        50, ge=1, le=1000, description="Model-agnostic SHAP: training rows that stand for 'feature unknown'."
    )
    budget_seconds: float = Field(
        2.0, gt=0, description="Time the global SHAP summary may take; rows are explained until it is spent "
        "(at least one chunk) and the number explained is reported.",
    )


class RobustnessCheck(_Strict):
    """Evasion: bounded perturbations of the inputs, a black-box decision attack (HopSkipJump), and white-box
    FGSM and PGD when the model is a torch network."""

    enabled: bool = Field(True, description="Run this check.")
    epsilon: float = Field(
        0.1, gt=0, le=2, description="Largest change of a numeric input, in units of its standard deviation."
    )
    flips: StrictInt = Field(1, ge=0, le=10, description="How many categorical inputs an attacker may change.")
    attack: Literal["none", "hopskipjump"] = Field("hopskipjump", description="The black-box attack run besides.")
    max_rows: StrictInt = Field(200, ge=10, description="Correctly classified test rows attacked.")
    max_queries: StrictInt = Field(
        500, ge=100, description="Model queries per row the black-box attack may spend (with 500 the whole check "
        "takes 2-3 s for 200 rows of a 300-tree LightGBM on Adult, one core)."
    )
    perturbation_queries: StrictInt = Field(
        200, ge=20, description="Model queries per row the bounded-perturbation search (random candidates, then "
        "greedy coordinate steps) may spend."
    )
    max_levels: StrictInt = Field(
        12, ge=1, le=1000, description="Categorical values an attacker may try per column: the commonest in training."
    )
    gradient_attacks: bool = Field(
        True, description="When the model is a torch network (mlp): FGSM and PGD on its input gradient, numeric "
        "inputs within epsilon, categoricals fixed (white-box; they do not run for other models)."
    )
    pgd_steps: StrictInt = Field(20, ge=1, le=1000, description="PGD's gradient steps per attacked row.")


class LabelNoiseCheck(_Strict):
    """Poisoning and label noise: confident learning on the training split flags suspicious rows,
    and an isolation forest flags outlying inputs."""

    enabled: bool = Field(True, description="Run this check.")
    folds: StrictInt = Field(3, ge=2, le=10, description="Folds for the out-of-fold probabilities.")
    max_rows: StrictInt = Field(50000, ge=100, description="Training rows examined at most.")
    top_rows: StrictInt = Field(10, ge=0, le=100, description="Suspicious rows and outliers the report lists.")
    outlier_z: float = Field(
        3.5, gt=0, description="An input row is an outlier when its isolation-forest score lies this many robust "
        "standard deviations (1.4826 x MAD) above the median score."
    )


class PrivacyCheck(_Strict):
    """Membership-inference audit: can an attacker tell training rows from unseen ones?"""

    enabled: bool = Field(True, description="Run this check.")
    max_rows: StrictInt = Field(2000, ge=50, description="Rows drawn from each of the training and test splits.")
    profile_epsilon: float | None = Field(
        None, gt=0, le=10, description="Publish a differentially private profile of the training split's numeric "
        "inputs (missing count, mean, histogram; private range) in the report and the model card, spending this "
        "epsilon in all (split evenly over the columns). Unset: no DP profile.",
    )
    profile_bounds: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="Known [low, high] ranges of numeric columns for the DP profile (from "
        "domain knowledge, e.g. age: [17, 100]); other columns get a range found privately.",
    )


class EnergyCheck(_Strict):
    """Energy and carbon of each stage and of serving, from CPU time and a power model (or CodeCarbon)."""

    enabled: bool = Field(True, description="Run this check.")
    method: Literal["auto", "cpu_model", "codecarbon"] = Field(
        "auto", description="auto: CodeCarbon where it is installed and finds power counters, else cpu_model: "
        "CPU seconds x watts per core + memory power (docs/checks.md)."
    )
    watts_per_core: float = Field(10.0, gt=0, description="cpu_model: power of one busy core, in watts.")
    grid_g_per_kwh: float = Field(
        475.0, gt=0, description="Carbon intensity of the electricity, gCO2e per kWh (475: world average)."
    )
    memory_watts_per_gb: float = Field(
        0.375, ge=0, description="cpu_model: power of a GiB of the process's resident memory, in watts (CodeCarbon's "
        "figure)."
    )
    single_rows: StrictInt = Field(
        50, ge=0, le=10000, description="Serving: rows predicted one at a time to estimate the energy of a server "
        "answering single requests (0: skip); the KPIs measure batches of 1000."
    )


class Checks(_Strict):
    """Checks run on every candidate besides the KPI metrics; their figures can be KPIs."""

    importance: ImportanceCheck = Field(ImportanceCheck(), description="Permutation importance of each input.")
    fairness: FairnessCheck = Field(FairnessCheck(), description="Group fairness of the decisions, and its "
                                    "mitigation.")
    explain: ExplainCheck = Field(ExplainCheck(), description="SHAP contributions, or permutation importance.")
    robustness: RobustnessCheck = Field(RobustnessCheck(), description="Evasion: bounded perturbations and "
                                        "HopSkipJump.")
    label_noise: LabelNoiseCheck = Field(LabelNoiseCheck(), description="Suspicious labels and outlying inputs "
                                         "in the training split.")
    privacy: PrivacyCheck = Field(PrivacyCheck(), description="Membership-inference audit, and an optional DP "
                                  "profile.")
    energy: EnergyCheck = Field(EnergyCheck(), description="Energy and carbon of training and serving.")


class ProjectSpec(_Strict):
    """The whole project file."""

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="Lower-case name of the project and of its registered model.",
        examples=["income", "churn"],
    )
    problem: ProblemSpec = Field(description="What is predicted, from which column, and why.")
    kpis: list[Kpi] = Field(default_factory=list, description="The KPIs, each a release gate: a model that misses "
                            "one is registered as rejected and never serves.",
                            examples=[[{"metric": "roc_auc", "min": 0.9}]])
    data: DataSpec = Field(description="The sources, ETL steps, contract, personal data and split.")
    model: ModelSpec = Field(ModelSpec(), description="The candidate learners and how they are searched.")
    checks: Checks = Field(Checks(), description="Checks besides the KPI metrics; their figures can be KPIs.")
    monitor: MonitorSpec = Field(MonitorSpec(), description="Drift, alerts and the closed loop in production.")
    deploy: DeploySpec = Field(DeploySpec(), description="How a retrained version is rolled out.")
    decision: DecisionSpec | None = Field(None, description="The decision layer over the model: rules, Bayesian "
                                          "networks and a utility per action and outcome (docs/reasoning.md).")
    ci: CiSpec = Field(CiSpec(), description="aiforge ci: how the candidate is compared with production.")
    schedules: list[ScheduleSpec] = Field(default_factory=list, description="When the project runs by itself "
                                          "(aiforge monitor watch, or the system's cron: aiforge schedule crontab).")
    workspace: WorkspaceSpec = Field(WorkspaceSpec(), description="Where the work runs: this machine or a Ray cluster "
                                     "(docs/scaling.md); AIFORGE_EXECUTOR / AIFORGE_RAY_ADDRESS override it.")

    @model_validator(mode="after")
    def _refit_full_alone(self) -> ProjectSpec:
        others = [name for name, on in (("model.compress", self.model.compress is not None),
                                        ("checks.fairness.mitigation", self.checks.fairness.mitigation != "none"))
                  if on]
        if self.model.refit_full and others:
            raise ValueError(f"model.refit_full cannot be combined with {' and '.join(others)}: the model "
                             "registered then is not a refit of the chosen configuration; drop one of them")
        return self

    @field_validator("schedules")
    @classmethod
    def _unique_schedules(cls, schedules: list[ScheduleSpec]) -> list[ScheduleSpec]:
        names = [s.name for s in schedules]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"schedule names must be unique; repeated: {', '.join(repeated)}")
        return schedules
