"""data.contract: every rule on a small table, what a broken rule reports, and where the file says so."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from aiforge.data import ContractError, check_contract
from aiforge.errors import AiforgeError
from aiforge.spec import Contract, parse_project_text

TABLE = pa.table({
    "id": ["C000001", "C000002", "C000002", "X9", None],
    "age": [25, 17, 40, 130, None],
    "sex": ["Male", "Female", "female", "Male", "Male"],
    "income": [50.0, None, 70.0, None, 20.0],
    "seen": pa.array([datetime(2026, 11, 20, tzinfo=UTC)] * 4 + [datetime(2026, 11, 26, tzinfo=UTC)],
                     pa.timestamp("us", tz="UTC")),
})
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def _check(contract: dict) -> dict[str, tuple[int, str]]:  # type: ignore[type-arg]
    report = check_contract(TABLE, Contract.model_validate(contract), now=NOW)
    return {v.rule: (v.count, v.message) for v in report.violations}


def test_a_contract_the_data_keep_passes() -> None:
    report = check_contract(TABLE, Contract.model_validate({
        "rows": {"min": 5, "max": 5},
        "columns": {"age": {"type": "integer", "min": 0, "max": 200}, "sex": {"type": "string"},
                    "income": {"type": "number", "max_missing": 0.4}, "seen": {"freshness": "2d"}}}), now=NOW)
    assert report.passed and len(report.checked) == 9


def test_every_rule_reports_how_many_rows_break_it() -> None:
    broken = _check({
        "rows": {"min": 10},
        "columns": {
            "id": {"unique": True, "nullable": False, "pattern": "C[0-9]{6}"},
            "age": {"min": 18, "max": 100, "type": "integer"},
            "sex": {"allowed": ["Male", "Female"]},
            "income": {"max_missing": 0.2},
            "seen": {"freshness": "12h"},
            "missing_col": {"type": "string"},
        },
    })
    assert broken["rows.min"][0] == 5
    assert broken["id.unique"] == (2, "1 values appear more than once: C000002")
    assert broken["id.nullable"][0] == 1 and broken["id.pattern"][0] == 1
    assert broken["age.min"][0] == 1 and broken["age.max"][0] == 1
    assert broken["sex.allowed"] == (1, "values outside ['Male', 'Female']: female")
    assert broken["income.max_missing"][0] == 2 and "40.00% missing" in broken["income.max_missing"][1]
    assert "older than 12h" in broken["seen.freshness"][1]
    assert broken["missing_col.present"][0] == 5


def test_a_wrong_type_stops_the_column_s_other_rules() -> None:
    assert set(_check({"columns": {"sex": {"type": "integer", "min": 1}}})) == {"sex.type"}


def test_patterns_and_allowed_values_hold_on_dictionary_coded_text_as_on_plain_text() -> None:
    plain = pa.table({"code": ["c1", "x2", None, "c3", "x2"]})
    coded = pa.table({"code": plain.column("code").dictionary_encode()})
    contract = Contract.model_validate({"columns": {"code": {"pattern": "c[0-9]", "allowed": ["c1", "c3"]}}})
    found = [{(v.rule, v.count, str(v.sample)) for v in check_contract(t, contract).violations} for t in (plain, coded)]
    assert found[0] == found[1] and {rule for rule, _, _ in found[0]} == {"code.pattern", "code.allowed"}
    assert {count for _, count, _ in found[0]} == {2}


def test_the_error_shows_samples_of_the_offending_rows() -> None:
    report = check_contract(TABLE, Contract.model_validate({"columns": {"age": {"max": 100}}}), now=NOW)
    [violation] = report.violations
    assert violation.sample == [TABLE.slice(3, 1).to_pylist()[0]]
    error = ContractError(report, where="aiforge.yaml:12 (data.contract)")
    assert "age.max: values above 100 (1 rows); e.g. {id='X9', age=130" in error.render()


@pytest.mark.parametrize(("text", "message"), [
    ("rows: {min: 5, max: 2}", "min 5 is above max 2"),
    ("columns: {a: {pattern: '(['}}", "is not a regular expression"),
    ("columns: {a: {freshness: soon}}", "freshness"),
    ("columns: {a: {type: text}}", "type"),
])
def test_a_bad_contract_is_refused_when_the_file_is_read(text: str, message: str) -> None:
    base = "name: x\nproblem: {target: y}\ndata:\n  sources: [{name: a, type: csv, path: a.csv}]\n  contract: "
    with pytest.raises(AiforgeError) as caught:
        parse_project_text(base + "{" + text + "}\n", Path("aiforge.yaml"))
    assert message in caught.value.render()
