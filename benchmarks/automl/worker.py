"""One benchmark run of one tool, in a fresh process of that tool's own virtual environment.

Started by ``run.py``; never imported by it (this file must run under pandas 2 and pandas 3 alike,
so it imports nothing but the standard library, numpy, pandas and the tool itself).

    python worker.py --tool flaml --split DIR --budget 30 --seed 0 --out DIR

``--split DIR`` holds ``train.parquet``, ``test.parquet`` (both with a ``target`` column) and
``meta.json`` (task, metric, n_classes). The worker fits the tool on the training rows only
within the tool's own time-budget knob, then writes to ``--out``:

- ``pred.npy``: test-set predictions, probabilities with columns 0..k-1 (classification) or
  values (regression), for the harness to score;
- ``result.json``: fit seconds, predict milliseconds per 1000 rows (median of timed calls on the
  same 1000 test rows), library versions and notes.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

N_JOBS = 2
PREDICT_ROWS = 1000
PREDICT_REPEATS = 7


class Task:
    """What the worker is asked to do; ``notes`` collect what the report must say about this run."""

    def __init__(self, args: argparse.Namespace) -> None:
        split = Path(args.split)
        self.meta: dict[str, Any] = json.loads((split / "meta.json").read_text())
        self.train = pd.read_parquet(split / "train.parquet")
        self.test = pd.read_parquet(split / "test.parquet")
        self.kind: str = self.meta["task"]
        self.metric: str = self.meta["metric"]
        self.n_classes: int = int(self.meta.get("n_classes", 0))
        self.budget: float = float(args.budget)
        self.seed: int = int(args.seed)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-{args.tool}-"))  # scratch, removed after
        self.notes: list[str] = []
        self.info: dict[str, Any] = {}  # "best": the chosen model, "trials": configurations tried
        self.fit_seconds: float | None = None  # set by a tool whose fit is not the whole fit call

    @property
    def classification(self) -> bool:
        return self.kind != "regression"

    def xy(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        return frame.drop(columns=["target"]), frame["target"]

    def align(self, proba: Any, classes: Any) -> np.ndarray:
        """Probabilities with one column per encoded class 0..k-1, whatever order the tool used."""
        proba = np.asarray(proba, dtype=float)
        out = np.zeros((proba.shape[0], self.n_classes))
        for j, c in enumerate(classes):
            out[:, int(float(c))] = proba[:, j]
        return out


# A fitted tool is a predict function: frame of features -> predictions in the harness's form.
Predictor = Callable[[pd.DataFrame], np.ndarray]


class _Categories:
    """Text columns as pandas categories with the training rows' categories (LightGBM needs this),
    learnt once at fit time so that predicting pays only for the conversion."""

    def __init__(self, train: pd.DataFrame) -> None:
        self.categories = {c: pd.Index(train[c].dropna().astype(str).unique()).sort_values()
                           for c in train.columns if train[c].dtype.kind not in "iufb"}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        for c, cats in self.categories.items():
            frame[c] = pd.Categorical(frame[c].where(frame[c].isna(), frame[c].astype(str)), categories=cats)
        return frame


# --- LightGBM with its defaults -------------------------------------------------------------------

def fit_lightgbm(task: Task) -> Predictor:
    import lightgbm as lgb

    X, y = task.xy(task.train)
    cats = _Categories(X)
    task.info.update(best="lightgbm (defaults)", trials=1)
    cls = lgb.LGBMClassifier if task.classification else lgb.LGBMRegressor
    model = cls(n_jobs=N_JOBS, random_state=task.seed, verbose=-1).fit(cats.apply(X), y)
    return _lgb_predictor(task, model, cats)


def _lgb_predictor(task: Task, model: Any, cats: _Categories) -> Predictor:
    def predict(frame: pd.DataFrame) -> np.ndarray:
        Xp = cats.apply(frame)
        if task.classification:
            return task.align(model.predict_proba(Xp), model.classes_)
        return np.asarray(model.predict(Xp), dtype=float)

    return predict


# --- Optuna (TPE) tuning LightGBM on a holdout ------------------------------------------------------

def fit_optuna(task: Task) -> Predictor:
    import lightgbm as lgb
    import optuna
    from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score
    from sklearn.model_selection import train_test_split

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y = task.xy(task.train)
    cats = _Categories(X)
    X = cats.apply(X)
    X_fit, X_val, y_fit, y_val = train_test_split(
        X, y, test_size=0.2, random_state=task.seed, stratify=y if task.classification else None)
    cls = lgb.LGBMClassifier if task.classification else lgb.LGBMRegressor
    lgb_metric = {"roc_auc": "auc", "log_loss": "multi_logloss", "rmse": "rmse"}[task.metric]

    def score(model: Any) -> float:
        if task.metric == "roc_auc":
            return float(roc_auc_score(y_val, model.predict_proba(X_val)[:, 1]))
        if task.metric == "log_loss":
            return float(log_loss(y_val, model.predict_proba(X_val), labels=list(range(task.n_classes))))
        return float(mean_squared_error(y_val, model.predict(X_val)) ** 0.5)

    def build(params: dict[str, Any], n_estimators: int) -> Any:
        return cls(n_estimators=n_estimators, bagging_freq=1, n_jobs=N_JOBS, random_state=task.seed,
                   verbose=-1, **params)

    def objective(trial: Any) -> float:
        params = {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 8, 256, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 200, log=True),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
            "subsample": trial.suggest_float("subsample", 0.4, 1.0),
            "reg_alpha": trial.suggest_float("reg_alpha", 1e-8, 10.0, log=True),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-8, 10.0, log=True),
        }
        model = build(params, 2000).fit(
            X_fit, y_fit, eval_X=(X_val,), eval_y=(y_val,), eval_metric=lgb_metric,
            callbacks=[lgb.early_stopping(50, verbose=False)])
        trial.set_user_attr("best_iteration", int(model.best_iteration_ or 2000))
        return score(model)

    direction = "maximize" if task.metric == "roc_auc" else "minimize"
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=task.seed))
    # The first trial is LightGBM's defaults, so tuning starts from where the baseline is.
    study.enqueue_trial({"learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 20, "colsample_bytree": 1.0,
                         "subsample": 1.0, "reg_alpha": 1e-8, "reg_lambda": 1e-8})
    study.optimize(objective, timeout=task.budget)
    best = study.best_trial
    task.info.update(best="lightgbm (tuned)", trials=len(study.trials))
    model = build(best.params, max(1, int(best.user_attrs["best_iteration"] * 1.1))).fit(X, y)
    return _lgb_predictor(task, model, cats)


# --- FLAML ------------------------------------------------------------------------------------------

def fit_flaml(task: Task) -> Predictor:
    from flaml import AutoML

    X, y = task.xy(task.train)
    automl = AutoML()
    automl.fit(X, y, task="classification" if task.classification else "regression",
               metric={"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "rmse"}[task.metric],
               time_budget=task.budget, n_jobs=N_JOBS, seed=task.seed, verbose=0,
               log_file_name=str(task.workdir / "flaml.log"))
    task.info.update(best=automl.best_estimator, trials=len(automl.config_history))

    def predict(frame: pd.DataFrame) -> np.ndarray:
        if task.classification:
            return task.align(automl.predict_proba(frame), automl.classes_)
        return np.asarray(automl.predict(frame), dtype=float)

    return predict


# --- AutoGluon-Tabular --------------------------------------------------------------------------------

def fit_autogluon(task: Task) -> Predictor:
    from autogluon.tabular import TabularPredictor

    path = task.workdir / "autogluon"
    problem = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}[task.kind]
    metric = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "root_mean_squared_error"}[task.metric]
    predictor = TabularPredictor(label="target", problem_type=problem, eval_metric=metric, path=str(path),
                                 verbosity=0)
    predictor.fit(task.train, presets="medium_quality", time_limit=task.budget, num_cpus=N_JOBS, num_gpus=0)
    task.info.update(best=predictor.model_best, trials=len(predictor.model_names()))

    def predict(frame: pd.DataFrame) -> np.ndarray:
        if task.classification:
            proba = predictor.predict_proba(frame, as_multiclass=True)
            return task.align(proba.to_numpy(), proba.columns)
        return np.asarray(predictor.predict(frame), dtype=float)

    return predict


# --- aiforge, through its command line ---------------------------------------------------------------

def _aiforge_project(task: Task, name: str, strategy: bool) -> str:
    problem = f"{{task: {task.kind}, target: target" + (", positive_class: 1}" if task.kind == "binary" else "}")
    stratify = "true" if task.classification else "false"
    search = ("strategy: bayesian, " if strategy else "") + f"metric: {task.metric}, "
    search += f"budget: {{seconds: {task.budget:g}}}"
    return (
        f"name: {name}\n"
        f"problem: {problem}\n"
        "data:\n"
        "  sources:\n"
        "    - {name: train, type: parquet, path: data/train.parquet}\n"
        f"  split: {{test_size: 0.1, stratify: {stratify}, seed: {task.seed}}}\n"
        "model:\n"
        f"  search: {{{search}}}\n"
        f"  seed: {task.seed}\n"
        f"  n_jobs: {N_JOBS}\n"
        "  refit_full: true\n"
        "checks: {importance: {enabled: false}, explain: {enabled: false}, robustness: {enabled: false},\n"
        "  label_noise: {enabled: false}, privacy: {enabled: false}, energy: {enabled: false}}\n"
    )


def fit_aiforge(task: Task) -> Predictor:
    import aiforge

    cli = str(Path(sys.executable).with_name("aiforge"))
    project = task.workdir / "project"
    (project / "data").mkdir(parents=True)
    # Only the training rows: aiforge's own small test split comes out of them.
    task.train.to_parquet(project / "data" / "train.parquet", index=False)
    name = "bench-" + task.meta["dataset"].replace("_", "-")
    project_file = project / "aiforge.yaml"
    workspace = task.workdir / "workspace"
    base = [cli, "--workspace", str(workspace)]

    project_file.write_text(_aiforge_project(task, name, strategy=True))
    check = subprocess.run([*base, "validate", "--no-data", str(project_file)], capture_output=True, text=True)
    if check.returncode == 2 and "strategy" in (check.stdout + check.stderr):
        task.notes.append("aiforge rejected model.search.strategy: ran without it (default search)")
        project_file.write_text(_aiforge_project(task, name, strategy=False))

    started = time.perf_counter()
    done = subprocess.run([*base, "run", str(project_file), "--json"], capture_output=True, text=True)
    task.fit_seconds = time.perf_counter() - started
    (task.workdir / "aiforge_run.log").write_text(done.stdout + "\n--- stderr ---\n" + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"aiforge run exited {done.returncode}: {(done.stderr or done.stdout)[-1500:]}")

    listed = subprocess.run([*base, "models", name, "--json"], capture_output=True, text=True, check=True)
    number = max(int(v["version"]) for v in json.loads(listed.stdout) if v["name"] == name)
    run_id = json.loads(done.stdout)["run_id"]
    trials = subprocess.run([*base, "trials", run_id, "--json", "--limit", "0"], capture_output=True, text=True)
    try:
        listing = json.loads(trials.stdout)
        task.info["trials"] = len(listing["trials"])
        tried: dict[str, int] = {}
        for row in listing["trials"]:
            key = f"{row.get('learner', '?')} {row.get('status', '?')}"
            tried[key] = tried.get(key, 0) + 1
        task.info["tried"] = tried
        task.notes.append(f"aiforge: search strategy {listing['search'].get('strategy', '?')}")
    except (ValueError, KeyError, TypeError):  # an older aiforge without `aiforge trials`
        pass
    registry = aiforge.ModelRegistry(aiforge.Workspace.open(aiforge.WorkspaceSettings.resolve(workspace)))
    version = registry.get(name, number)
    # The model as aiforge serves it (`aiforge serve`, `aiforge predict`): the prediction path its registration
    # chose on evidence, ONNX Runtime or the native fast path (older aiforge: the native model).
    loader = getattr(registry, "load_predictor", registry.load_model)
    model = loader(version)
    task.info["best"] = getattr(getattr(model, "model", model), "learner", "?")
    task.info["predict_path"] = getattr(model, "path", "native")

    def predict(frame: pd.DataFrame) -> np.ndarray:
        if task.classification:
            return task.align(model.predict_proba(frame), model.classes)
        return np.asarray(model.predict(frame), dtype=float)

    return predict


TOOLS: dict[str, tuple[Callable[[Task], Predictor], list[str]]] = {
    "aiforge": (fit_aiforge, ["aiforge", "lightgbm", "scikit-learn", "optuna"]),
    "flaml": (fit_flaml, ["flaml", "lightgbm", "xgboost-cpu", "xgboost", "scikit-learn"]),
    "autogluon": (fit_autogluon, ["autogluon.tabular", "lightgbm", "catboost", "xgboost-cpu", "torch",
                                  "scikit-learn"]),
    "lightgbm": (fit_lightgbm, ["lightgbm", "scikit-learn"]),
    "optuna": (fit_optuna, ["optuna", "lightgbm", "scikit-learn"]),
}


def _versions(packages: list[str]) -> dict[str, str]:
    found = {"python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__}
    for p in packages:
        try:
            found[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return found


def _predict_ms_per_1000(task: Task, predict: Predictor) -> float:
    rows = task.test.drop(columns=["target"])
    batch = rows.sample(n=PREDICT_ROWS, replace=len(rows) < PREDICT_ROWS, random_state=0).reset_index(drop=True)
    predict(batch)  # warm-up: first calls build caches / load lazily
    times = []
    for _ in range(PREDICT_REPEATS):
        started = time.perf_counter()
        predict(batch)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times) * (1000 / PREDICT_ROWS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", required=True, choices=sorted(TOOLS))
    parser.add_argument("--split", required=True)
    parser.add_argument("--budget", required=True, type=float)
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    task = Task(args)
    fit, packages = TOOLS[args.tool]
    scratch = task.workdir
    try:
        started = time.perf_counter()
        predict = fit(task)
        fit_seconds = task.fit_seconds or time.perf_counter() - started
        started = time.perf_counter()
        pred = predict(task.test.drop(columns=["target"]))
        test_predict_seconds = time.perf_counter() - started
        predict_ms = _predict_ms_per_1000(task, predict)
    finally:
        keep = Path(args.out)
        for log in ("aiforge_run.log", "flaml.log"):
            if (scratch / log).exists():
                shutil.copy(scratch / log, keep / log)
        shutil.rmtree(scratch, ignore_errors=True)

    out = Path(args.out)
    np.save(out / "pred.npy", pred)
    usage_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    usage_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    (out / "result.json").write_text(json.dumps({
        "fit_s": round(fit_seconds, 3),
        "test_predict_s": round(test_predict_seconds, 4),
        "predict_ms_per_1000": round(predict_ms, 3),
        "maxrss_self_mb": round(usage_self, 1),
        "maxrss_children_mb": round(usage_children, 1),
        "versions": _versions(packages),
        "notes": task.notes,
        **task.info,
    }, indent=2))


if __name__ == "__main__":
    main()
