"""Rules: the expression language's whitelist and types, forward chaining, conflicts, cycles, missing facts."""

from __future__ import annotations

import pytest

from aiforge.reason import ExpressionError, RuleCycle, RuleSet, compile_expression
from aiforge.spec import RuleSpec


def rule(name: str, when: str, **kw: object) -> RuleSpec:
    return RuleSpec.model_validate({"name": name, "when": when, **kw})


@pytest.mark.parametrize(("text", "message"), [
    ("__import__('os').system('ls')", r"calling __import__\('os'\)\.system\(\) is not allowed"),
    ("age.real", r"attribute access"),
    ("names[0] == 'a'", r"indexing"),
    ("(lambda: 1)()", r"calling .* is not allowed"),
    ("[x for x in y]", r"a comprehension"),
    ("open('f')", r"calling open\(\)"),
    ("2 ** 1000", r"the operator Pow"),
    ("x is None", r"'is' / 'is not'"),
    ("age >", r"not a valid expression"),
    ("", r"may not be empty"),
    ("abs(1, 2)", r"abs\(\) takes 1 argument"),
])
def test_expressions_outside_the_whitelist_are_refused(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        compile_expression(text)


@pytest.mark.parametrize(("text", "message"), [
    ("age < 'old'", r"cannot compare 'age' \(number\) with \"'old'\" \(text\)"),
    ("country + 1 > 2", r"'\+' needs numbers, but 'country' is text"),
    ("age and income > 1", r"'and' / 'or' combine conditions, but 'age' is number"),
    ("agee > 20", r"unknown fact 'agee'.*did you mean 'age'"),
    ("country in [1, 2]", r"'country' is text but the list '\[1, 2\]' holds number"),
    ("lower(age) == 'x'", r"lower\(\) takes text, but 'age' is number"),
])
def test_type_errors_name_both_sides(text: str, message: str) -> None:
    kinds = {"age": "number", "income": "number", "country": "text"}
    with pytest.raises(ExpressionError, match=message):
        compile_expression(text).check(kinds)  # type: ignore[arg-type]


def test_missing_facts_make_a_condition_unknown_not_false() -> None:
    facts = {"age": None, "income": 10.0}
    assert compile_expression("age < 21").evaluate(facts) is None
    assert compile_expression("age < 21 or income < 20").evaluate(facts) is True  # one true side decides
    assert compile_expression("age < 21 and income > 20").evaluate(facts) is False  # one false side decides
    assert compile_expression("not (age < 21)").evaluate(facts) is None
    assert compile_expression("is_missing(age)").evaluate(facts) is True
    assert compile_expression("coalesce(age, 30) + 1").evaluate(facts) == 31
    assert compile_expression("income / 0").evaluate(facts) is None
    assert compile_expression("18 <= coalesce(age, 40) < 65").evaluate(facts) is True
    assert compile_expression("agee > 1").evaluate(facts) is None  # unknown names are caught by check(), not here
    rules = RuleSet([rule("young", "age < 21", forbid=["approve"])])
    outcome = rules.run(facts)
    assert outcome.firings == [] and outcome.forbidden == {} and outcome.unknown == ["young"]


def test_forward_chaining_reaches_a_fixed_point_through_derived_facts() -> None:
    rules = RuleSet([  # written in the opposite order of their use: chaining, not file order, decides
        rule("risky_thin", "thin and ratio > 0.5", forbid=["approve"]),
        rule("ratio", "income > 0", set={"ratio": "loan / income"}),
        rule("thin", "is_missing(history)", set={"thin": "true"}),
    ])
    outcome = rules.run({"income": 10.0, "loan": 6.0, "history": None})
    assert outcome.facts["ratio"] == pytest.approx(0.6) and outcome.facts["thin"] is True
    assert outcome.forbidden == {"approve": "risky_thin"}
    assert sorted(outcome.fired) == ["ratio", "risky_thin", "thin"]
    assert outcome.firings[-1].because == "thin and ratio > 0.5 with ratio=0.6, thin=True"
    assert rules.run({"income": 10.0, "loan": 6.0, "history": "good"}).forbidden == {}


def test_conflicts_go_to_priority_then_specificity_then_order() -> None:
    by_priority = RuleSet([rule("approve_small", "loan < 5", require="approve", priority=1),
                           rule("sanctioned", "country == 'XX'", require="reject", priority=100)])
    out = by_priority.run({"loan": 2, "country": "XX"})
    assert out.required == "reject" and out.required_by == "sanctioned"
    assert [(f.rule, f.overruled_by) for f in out.firings] == [("sanctioned", None), ("approve_small", "sanctioned")]
    by_specificity = RuleSet([rule("general", "loan < 5", set={"band": "'low'"}),
                              rule("specific", "loan < 5 and age > 60", set={"band": "'senior'"})])
    assert by_specificity.run({"loan": 2, "age": 70}).facts["band"] == "senior"
    by_order = RuleSet([rule("first", "loan < 5", set={"band": "'a'"}),
                        rule("second", "loan < 9", set={"band": "'b'"})])
    out = by_order.run({"loan": 2})
    assert out.facts["band"] == "a" and out.firings[1].overruled_by == "first"


def test_a_rule_undoing_itself_is_a_cycle_and_a_runaway_rule_hits_the_limit() -> None:
    toggling = RuleSet([rule("toggle", "x > 0", set={"s": "1 - coalesce(s, 0)"})])
    with pytest.raises(RuleCycle, match="returned to a state it had already been in") as cycle:
        toggling.run({"x": 1})
    assert cycle.value.found == "toggle -> toggle -> toggle"
    counting = RuleSet([rule("count", "x > 0", set={"n": "coalesce(n, 0) + 1"})], max_iterations=25)
    with pytest.raises(RuleCycle, match="more than 25 times") as runaway:
        counting.run({"x": 1})
    assert "count kept firing" in str(runaway.value.found)
    bounded = RuleSet([rule("count", "coalesce(n, 0) < 10", set={"n": "coalesce(n, 0) + 1"})], max_iterations=25)
    assert bounded.run({}).facts["n"] == 10  # a rule may refire while what it reads changes, up to its fixed point


def test_check_types_derived_facts_and_refuses_writing_evidence() -> None:
    rules = RuleSet([rule("band", "income > 50", set={"band": "'high'"}), rule("uses", "band == 1", forbid=["a"]),
                     rule("overwrite", "income > 0", set={"income": "0"}),
                     rule("not_bool", "income + 1", forbid=["a"])])
    problems = {(i, f): m for i, f, m in rules.check({"income": "number"})}
    assert "cannot compare 'band' (text) with '1' (number)" in problems[(1, "when")]
    assert "sets 'income', which is an input" in problems[(2, "set.income")]
    assert "is number, not a condition" in problems[(3, "when")]
    assert (0, "set.band") not in problems and (0, "when") not in problems
