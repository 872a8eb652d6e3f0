"""Schema changes upstream, column by column: what counts as a change (a column gone, another kind of values) and what
does not (a wider number type, a column with no value in this read, a new column); and the records of a JSON
document or API keeping every field, with a record that does not fit named."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from aiforge.data import SchemaChange, SchemaChanged, read_source
from aiforge.data._source_schema import schema_changes, source_schema
from aiforge.errors import DataError
from aiforge.spec import CsvSource, JsonSource

BEFORE = {"id": "int64", "price": "double", "city": "string", "at": "timestamp[us]", "ok": "bool"}


def _table(**columns: pa.Array) -> pa.Table:
    return pa.table(columns)


def test_the_same_kinds_of_values_are_no_change() -> None:
    table = _table(id=pa.array([1.5]), price=pa.array([2], pa.int32()), city=pa.array(["a"]).dictionary_encode(),
                   at=pa.array([0], pa.timestamp("ms")), ok=pa.array([None], pa.null()), extra=pa.array([1]))
    assert schema_changes("shop", BEFORE, table) == []


def test_a_column_gone_or_of_another_kind_is_a_change_named_with_the_new_columns() -> None:
    table = _table(id=pa.array(["1"]), cost=pa.array([2.0]), city=pa.array(["a"]), at=pa.array(["2026-11-01"]),
                   ok=pa.array([1]))
    changes = schema_changes("shop", BEFORE, table)
    assert [(c.column, c.after) for c in changes] == [("id", "string"), ("price", None), ("at", "string"),
                                                      ("ok", "int64")]
    assert [c.describe() for c in changes] == [
        "'id' of source 'shop' changed from number (int64) to text (string)",
        "'price' of source 'shop' is gone (new: 'cost'; renamed?)",
        "'at' of source 'shop' changed from timestamp (timestamp[us]) to text (string)",
        "'ok' of source 'shop' changed from boolean (bool) to number (int64)",
    ]
    error = SchemaChanged(changes, where="shop.csv", snapshot="ab" * 32)
    assert error.message == "4 column(s) changed upstream since the last snapshot: 'id', 'price', 'at', 'ok'"
    assert error.expected == "the columns and kinds of values of snapshot abababababab"
    assert "--accept-schema-change" in (error.hint or "") and error.changes == changes


def test_the_recorded_schema_is_the_arrow_types_as_text() -> None:
    assert source_schema(_table(a=pa.array([1]), b=pa.array(["x"]))) == {"a": "int64", "b": "string"}
    assert SchemaChange("s", "a", "int64", None).describe() == "'a' of source 's' is gone"


def test_a_json_document_keeps_fields_the_first_record_lacks(tmp_path: Path) -> None:
    (tmp_path / "doc.json").write_text(json.dumps([{"a": 1}, {"a": 2, "b": "x"}, {"c": 1.5}]), encoding="utf-8")
    table = read_source(JsonSource(type="json", name="doc", path="doc.json"), tmp_path).table
    assert table.to_pydict() == {"a": [1, 2, None], "b": [None, "x", None], "c": [None, None, 1.5]}


def test_a_record_of_another_kind_is_named(tmp_path: Path) -> None:
    (tmp_path / "doc.json").write_text(json.dumps([{"a": 1, "b": 1}, {"a": 2.5, "b": 2}, {"a": 3, "b": "3"}]),
                                       encoding="utf-8")
    with pytest.raises(DataError, match="record 3 of source 'doc' does not fit the records before it") as caught:
        read_source(JsonSource(type="json", name="doc", path="doc.json"), tmp_path)
    assert caught.value.expected == "integer values in field 'b' (or null), as in the records before"
    assert caught.value.found == "text '3'"


def test_a_broken_json_document_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "doc.json").write_text('[{"a": 1},\n{"a": 2,}]', encoding="utf-8")
    with pytest.raises(DataError, match="cannot be parsed") as caught:
        read_source(JsonSource(type="json", name="doc", path="doc.json"), tmp_path)
    assert caught.value.where == f"{tmp_path / 'doc.json'}:2"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/mem is Linux's")
def test_a_file_that_cannot_be_read_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data file for source 'mem' cannot be read") as caught:
        read_source(CsvSource(type="csv", name="mem", path="/proc/self/mem"), tmp_path)
    assert caught.value.found is not None and caught.value.found.startswith("OSError")
