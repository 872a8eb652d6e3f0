"""Energy weighed against accuracy: with ``energy_tolerance``, the cheapest trial within the tolerance of
the best score is chosen, and an ensemble must gain more than the tolerance to be kept."""

from __future__ import annotations

from test_search import _select

from aiforge.learn import TrialRecord
from aiforge.learn._select import frugal_trial
from aiforge.spec import SearchSpec, TaskKind


def _trial(number: int, score: float, seconds: float, predict_ms: float | None = 1.0) -> TrialRecord:
    return TrialRecord(number, "lightgbm", {}, "complete", fold_scores=[score] * 3, score=score, seconds=seconds,
                       predict_ms=predict_ms)


def test_the_cheapest_trial_within_the_tolerance_wins() -> None:
    best, close_cheap, far_cheaper = _trial(0, 0.90, 30.0), _trial(1, 0.897, 3.0), _trial(2, 0.85, 0.3)
    trials = [best, close_cheap, far_cheaper]

    assert frugal_trial(trials, best, 0.005, lambda v: v) is close_cheap
    assert frugal_trial(trials, best, 0.0, lambda v: v) is best
    assert frugal_trial(trials, best, 0.1, lambda v: v) is far_cheaper


def test_lower_is_better_scores_are_compared_signed() -> None:
    best, close_cheap = _trial(0, 1.00, 30.0), _trial(1, 1.02, 1.0)
    assert frugal_trial([best, close_cheap], best, 0.05, lambda v: -v) is close_cheap
    assert frugal_trial([best, close_cheap], best, 0.01, lambda v: -v) is best


def test_ties_in_training_time_go_to_the_faster_predictor() -> None:
    best, slow_serving, fast_serving = _trial(0, 0.9, 9.0, 50.0), _trial(1, 0.9, 3.0, 40.0), _trial(2, 0.9, 3.0, 2.0)
    assert frugal_trial([best, slow_serving, fast_serving], best, 0.01, lambda v: v) is fast_serving


def test_a_search_with_a_tolerance_reports_what_it_traded() -> None:
    search = SearchSpec(strategy="defaults", cv=3, energy_tolerance=1.0)
    _, model, report = _select(TaskKind.BINARY, ["linear", "random_forest"], search)

    complete = [t for t in report.trials if t.status == "complete"]
    cheapest = min(complete, key=lambda t: (t.seconds / len(t.fold_scores), t.predict_ms or 0.0, t.number))
    assert model.learner == cheapest.learner
    most_accurate = max(complete, key=lambda t: (t.score or 0.0, -t.number))
    if most_accurate is not cheapest:
        assert report.frugal is not None
        assert report.frugal["chosen"]["learner"] == cheapest.learner
        assert report.frugal["most_accurate"]["learner"] == most_accurate.learner
