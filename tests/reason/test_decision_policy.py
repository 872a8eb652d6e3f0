"""Decision policies: the chosen action maximises expected utility among the allowed ones, on a cost matrix."""

from __future__ import annotations

import itertools

import pytest

from aiforge.reason import RuleConflict, choose, expected_utilities

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
