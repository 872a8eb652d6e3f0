"""Label noise and poisoning on real data: flipped Adult labels are found, clean labels give few flags,
corrupted regression targets and injected odd rows are flagged, and bad input is a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from aiforge.evaluate._checks import CHECK_METRICS, CheckContext, run_checks
from aiforge.evaluate._label_noise import classification_issues, label_noise
from aiforge.evaluate._metrics import default_metric
from aiforge.learn import TabularModel
from aiforge.learn._model import FeatureSet
from aiforge.spec import Checks, TaskKind

ADULT = Path(__file__).resolve().parents[2] / "examples" / "income" / "data" / "adult.csv"
CLASSES = ["<=50K", ">50K"]
FEATURES = FeatureSet(
    ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"],
    ["workclass", "education", "marital_status", "occupation", "relationship", "race", "sex", "native_country"])


def _context(train: pd.DataFrame, features: FeatureSet, task: TaskKind, classes: list[Any], target: str,
             **section: Any) -> CheckContext:
    # the check reads the model's inputs, classes and target encoding only: no fitted pipeline is needed
    model = TabularModel(None, task, classes, features, "none", target)
    checks = Checks.model_validate({"label_noise": section})
    return CheckContext(model, train, train.iloc[:0], target, task, default_metric(task), 0, checks)


@pytest.fixture(scope="module")
def adult() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """6000 Adult rows (index as in the file), and a copy with 5% of the labels flipped."""
    clean = pd.read_csv(ADULT).sample(6000, random_state=0)
    flipped = np.random.default_rng(0).choice(len(clean), size=len(clean) // 20, replace=False)
    noisy = clean.copy()
    at = noisy.columns.get_loc("income")
    noisy.iloc[flipped, at] = np.where(noisy.iloc[flipped, at] == ">50K", "<=50K", ">50K")
    return clean, noisy, flipped


def test_flipped_adult_labels_are_found(adult: Any) -> None:
    clean, noisy, flipped = adult
    is_flipped = np.zeros(len(noisy), dtype=bool)
    is_flipped[flipped] = True
    y_noisy = (noisy["income"] == ">50K").to_numpy(dtype=int)
    y_clean = (clean["income"] == ">50K").to_numpy(dtype=int)
    flagged, quality, suggested, _ = classification_issues(noisy, y_noisy, FEATURES, 2, 3, 0)
    on_clean, _, _, _ = classification_issues(clean, y_clean, FEATURES, 2, 3, 0)

    precision, recall = is_flipped[flagged].mean(), flagged[is_flipped].mean()
    ranked = np.argsort(quality)[: len(flipped)]  # as many rows as were flipped, least likely label first
    precision_at_k = is_flipped[ranked].mean()
    new = flagged & ~on_clean  # flags the flipping added: Adult's own labels hold ~13% inconsistent rows
    new_precision, new_recall = is_flipped[new].mean(), new[is_flipped].mean()
    print(f"\n5% of 6000 Adult labels flipped: {flagged.sum()} flagged (clean labels: {on_clean.sum()}); "
          f"precision {precision:.3f} recall {recall:.3f} (chance: {len(flipped) / len(noisy):.3f} and "
          f"{flagged.mean():.3f}); lowest-quality {len(flipped)}: precision {precision_at_k:.3f}; flags added "
          f"by the flipping: precision {new_precision:.3f} recall {new_recall:.3f}")

    # Adult's own labels hold rows that confident learning flags too (~8% of the unflipped data): against
    # the flipped rows alone they count as false alarms, which caps the precision of the flagged set
    assert recall >= 0.65  # chance: the share flagged, ~0.13
    assert precision >= 0.2  # chance: 0.05
    assert precision_at_k >= 0.45
    assert new_precision >= 0.4 and new_recall >= 0.65
    assert np.mean(suggested[flagged & is_flipped] == 1 - y_noisy[flagged & is_flipped]) > 0.9  # the true label


def test_the_check_reports_rates_and_the_most_suspicious_rows(adult: Any) -> None:
    clean, noisy, flipped = adult
    results = {name: run_checks(_context(frame, FEATURES, TaskKind.BINARY, CLASSES, "income"), ["label_noise"])
               ["label_noise"] for name, frame in (("clean", clean), ("noisy", noisy))}
    print("\n" + "; ".join(f"{name}: {r.metrics} in {r.seconds} s" for name, r in results.items()))

    noisy_result, clean_result = results["noisy"], results["clean"]
    assert noisy_result.status == "ok", noisy_result.reason
    assert set(noisy_result.metrics) == {"label_issue_rate", "outlier_rate"} <= set(CHECK_METRICS)
    rise = noisy_result.metrics["label_issue_rate"] - clean_result.metrics["label_issue_rate"]
    assert 0.04 <= rise <= 0.08  # the 5% flipped, found
    assert clean_result.metrics["label_issue_rate"] < 0.12
    assert noisy_result.details["n_flagged"] == round(noisy_result.metrics["label_issue_rate"] * len(noisy))
    top = noisy_result.details["label_issues"]
    assert len(top) == 10
    assert [r["label_quality"] for r in top] == sorted(r["label_quality"] for r in top)
    flipped_index = set(noisy.index[flipped])
    assert sum(r["row"] in flipped_index for r in top) >= 7  # the least likely labels are mostly flipped ones
    for r in top:  # rows are named by the training split's index, with the label as given there
        assert noisy.loc[r["row"], "income"] == r["given"] and r["suggested"] != r["given"]


def test_clean_separable_labels_give_almost_no_issue() -> None:
    X, y = make_classification(n_samples=2000, n_features=6, n_informative=4, class_sep=3.0, flip_y=0.0,
                               random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)]).assign(y=y)
    features = FeatureSet([f"x{i}" for i in range(6)], [])
    result = label_noise(_context(frame, features, TaskKind.BINARY, [0, 1], "y"))

    print(f"\nseparable classes: {result.metrics}")
    assert result.metrics["label_issue_rate"] < 0.01
    assert result.metrics["outlier_rate"] < 0.05  # the tails of Gaussian clusters

def test_injected_odd_rows_are_the_top_outliers(adult: Any) -> None:
    clean, _, _ = adult
    poisoned = clean.copy()
    odd = poisoned.index[:15]
    rng = np.random.default_rng(1)  # rows of the extremes of several inputs at once, each seen in Adult
    poisoned.loc[odd, "age"] = rng.integers(85, 91, 15)
    poisoned.loc[odd, "hours_per_week"] = rng.integers(95, 100, 15)
    poisoned.loc[odd, "capital_gain"] = 99999
    poisoned.loc[odd, "native_country"] = rng.choice(["Holand-Netherlands", "Hungary", "Scotland"], 15)
    result = label_noise(_context(poisoned, FEATURES, TaskKind.BINARY, CLASSES, "income", top_rows=15))

    listed = [r["row"] for r in result.details["outliers"]]
    print(f"\noutlier rate {result.metrics['outlier_rate']:.4f}; injected among the top 15: "
          f"{len(set(listed) & set(odd))}")
    assert len(set(listed) & set(odd)) >= 12
    assert result.metrics["outlier_rate"] < 0.02
    assert {"row", "anomaly_score", "robust_z", "rarest_input", "value"} <= set(result.details["outliers"][0])


def test_corrupted_regression_targets_are_flagged() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size": rng.uniform(30, 200, 1500), "district": rng.choice(["n", "s", "c"], 1500)})
    frame["price"] = 2000 * frame["size"] + frame["district"].map({"n": 0, "s": -2e4, "c": 6e4}) \
        + rng.normal(0, 1e4, 1500)
    corrupted = rng.choice(1500, size=30, replace=False)
    frame.loc[corrupted, "price"] += rng.choice([-1, 1], 30) * 1.5e5
    features = FeatureSet(["size"], ["district"])
    result = label_noise(_context(frame, features, TaskKind.REGRESSION, [], "price", top_rows=40))

    flagged = {r["row"] for r in result.details["label_issues"]}
    print(f"\nregression: {result.details['n_flagged']} flagged, {len(flagged & set(corrupted))} of 30 corrupted")
    assert len(flagged & set(corrupted)) >= 27
    assert result.details["n_flagged"] <= 40
    assert {"row", "given", "suggested", "robust_z"} <= set(result.details["label_issues"][0])


def test_a_training_split_without_the_target_is_a_clear_error(adult: Any) -> None:
    clean, _, _ = adult
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['income'\].*pass the split the model was trained"):
        label_noise(_context(clean.drop(columns=["income"]), FEATURES, TaskKind.BINARY, CLASSES, "income"))
