"""Decision policies: the chosen action maximises expected utility among the allowed ones, on a cost matrix."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from aiforge.reason import DecisionBundle, RuleConflict, choose, decide_records, expected_utilities, fit_bundle
from aiforge.spec import DecisionSpec

ACTIONS = ["approve", "review", "reject"]
UTILITY = {"approve": {"repaid": 120, "default": -1000}, "review": {"repaid": 60, "default": -400},
           "reject": {"repaid": 0, "default": 0}}


def test_expected_utility_is_the_probability_weighted_sum() -> None:
    assert expected_utilities({"repaid": 0.9, "default": 0.1}, UTILITY) == pytest.approx(
        {"approve": 0.9 * 120 - 0.1 * 1000, "review": 0.9 * 60 - 0.1 * 400, "reject": 0.0})


def test_the_choice_is_optimal_at_every_probability_and_switches_at_the_break_even_points() -> None:
    # approve beats review while 60 (1 - p) > 600 p, i.e. p < 1/11; review beats reject while 60 (1 - p) > 400 p,
    # i.e. p < 60/460 = 3/23
    for step in range(101):
        p = step / 100
        probabilities = {"repaid": 1 - p, "default": p}
        choice = choose(ACTIONS, probabilities, UTILITY)
        utilities = expected_utilities(probabilities, UTILITY)
        assert choice.expected_utility == pytest.approx(max(utilities.values()))
        expected = "approve" if p < 1 / 11 else "review" if p < 3 / 23 else "reject"
        assert choice.action == expected, p
    for forbidden in itertools.chain.from_iterable(itertools.combinations(ACTIONS, k) for k in (1, 2)):
        probabilities = {"repaid": 0.95, "default": 0.05}
        choice = choose(ACTIONS, probabilities, UTILITY, forbidden={a: "limit" for a in forbidden})
        allowed = [a for a in ACTIONS if a not in forbidden]
        assert choice.action in allowed and choice.allowed == allowed
        assert choice.expected_utility == pytest.approx(max(expected_utilities(probabilities, UTILITY)[a]
                                                            for a in allowed))


def test_ties_go_to_the_action_listed_first_and_a_required_action_decides() -> None:
    flat = {a: {"repaid": 0, "default": 0} for a in ACTIONS}
    assert choose(ACTIONS, {"repaid": 0.5, "default": 0.5}, flat).action == "approve"
    assert choose(list(reversed(ACTIONS)), {"repaid": 0.5, "default": 0.5}, flat).action == "reject"
    required = choose(ACTIONS, {"repaid": 0.99, "default": 0.01}, UTILITY, required="reject")
    assert required.action == "reject" and required.expected_utility == 0.0
    overruled = choose(ACTIONS, {"repaid": 0.99, "default": 0.01}, UTILITY, forbidden={"reject": "keep_customers"},
                       required="reject", required_wins=False)
    assert overruled.action == "approve"


def test_forbidding_every_action_is_a_conflict_naming_the_rules() -> None:
    with pytest.raises(RuleConflict, match="the rules forbid every action") as conflict:
        choose(ACTIONS, {"repaid": 1.0, "default": 0.0}, UTILITY,
               forbidden={"approve": "young", "review": "no_staff", "reject": "must_serve"})
    assert conflict.value.found == "approve forbidden by young; review forbidden by no_staff; reject forbidden by " \
        "must_serve"


class ThresholdModel:
    """A classifier over one column (the model interface the decision layer reads: classes, predict,
    predict_proba): P(default) is the column's value."""

    classes = ["no", "yes"]
    input_columns = ["risk"]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = frame["risk"].to_numpy(dtype=float)
        return np.column_stack([1 - p, p])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.where(frame["risk"].to_numpy(dtype=float) >= 0.5, "yes", "no").astype(object)


def test_a_bundle_on_the_model_probabilities_decides_summarises_and_round_trips() -> None:
    spec = DecisionSpec.model_validate({
        "actions": ACTIONS, "outcome": {"model": True},
        "utility": {a: {"no": u["repaid"], "yes": u["default"]} for a, u in UTILITY.items()},
        "rules": [{"name": "cap", "when": "amount > 100", "forbid": ["approve"]}]})
    rows = pd.DataFrame({"risk": [0.01, 0.05, 0.11, 0.5, 0.02], "amount": [10, 500, 10, 10, 10],
                         "default": ["no", "no", "yes", "yes", "no"]})
    bundle = fit_bundle(spec, ThresholdModel(), rows, rows, "default")
    again = DecisionBundle.from_bytes(bundle.to_bytes())
    decisions = decide_records(again, ThresholdModel(), rows.drop(columns=["default"]))
    assert [d.action for d in decisions] == ["approve", "review", "review", "reject", "approve"]
    assert [d.model_only for d in decisions] == ["approve", "approve", "review", "reject", "approve"]
    assert decisions[1].forbidden == {"approve": "cap"} and decisions[1].why.startswith("review: highest expected")
    ref = bundle.reference
    assert ref["actions"] == {"approve": 2, "review": 2, "reject": 1} and ref["rule_firing_rates"] == {"cap": 0.2}
    # realised: approve/no 120, review/no 60, review/yes -400, reject/yes 0, approve/no 120
    assert ref["realised_mean_utility"] == pytest.approx((120 + 60 - 400 + 0 + 120) / 5)
    assert ref["model_only"]["realised_mean_utility"] == pytest.approx((120 + 120 - 400 + 0 + 120) / 5)
    assert ref["model_only"]["agreement"] == pytest.approx(0.8)


@pytest.mark.parametrize(("require_priority", "forbid_priority", "action", "required_by"), [
    (1, 5, "approve", None),  # the forbidding rule ranks higher: the required action is not taken
    (5, 1, "review", "must_review"),  # the requiring rule ranks higher: it decides
])
def test_a_rule_forbidding_what_another_requires_loses_or_wins_by_rank(
        require_priority: int, forbid_priority: int, action: str, required_by: str | None) -> None:
    spec = DecisionSpec.model_validate({
        "actions": ACTIONS, "outcome": {"model": True},
        "utility": {a: {"no": u["repaid"], "yes": u["default"]} for a, u in UTILITY.items()},
        "rules": [{"name": "must_review", "when": "risk < 0.5", "require": "review", "priority": require_priority},
                  {"name": "no_review", "when": "risk >= 0", "forbid": ["review"], "priority": forbid_priority}]})
    bundle = DecisionBundle(spec, {}, ["no", "yes"])
    decision = decide_records(bundle, ThresholdModel(), pd.DataFrame({"risk": [0.01]}))[0]
    assert (decision.action, decision.required_by) == (action, required_by)
    assert decision.forbidden == {"review": "no_review"}


def test_rules_forbidding_every_action_stop_the_decision_with_a_conflict() -> None:
    spec = DecisionSpec.model_validate({
        "actions": ["approve", "reject"], "outcome": {"model": True},
        "utility": {"approve": {"no": 1, "yes": -1}, "reject": {"no": 0, "yes": 0}},
        "rules": [{"name": "risky", "when": "risk > 0.2", "forbid": ["approve"]},
                  {"name": "vip", "when": "risk < 0.9", "forbid": ["reject"]}]})
    bundle = DecisionBundle(spec, {}, ["no", "yes"])
    assert decide_records(bundle, ThresholdModel(), pd.DataFrame({"risk": [0.1]}))[0].action == "approve"
    with pytest.raises(RuleConflict, match="forbid every action"):
        decide_records(bundle, ThresholdModel(), pd.DataFrame({"risk": [0.5]}))
