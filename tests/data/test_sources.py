"""Reading data sources: CSV and Parquet into Arrow, and the errors bad files give."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aiforge.data import SOURCES, read_source
from aiforge.errors import DataError
from aiforge.spec import CsvSource, ParquetSource

GOOD_CSV = "age,city,income\n39,Paris,<=50K\n50,,>50K\n38,Lyon,<=50K\n"


def _csv(name: str = "data.csv", **kw: str) -> CsvSource:
    return CsvSource(type="csv", name="census", path=name, **kw)


def _parquet(name: str = "data.parquet") -> ParquetSource:
    return ParquetSource(type="parquet", name="census", path=name)


def test_both_kinds_are_registered() -> None:
    assert set(SOURCES) >= {"csv", "parquet"}


def test_csv_is_read_into_a_typed_table(tmp_path: Path) -> None:
    raw = GOOD_CSV.encode()
    (tmp_path / "data.csv").write_bytes(raw)

    loaded = read_source(_csv(), tmp_path)

    assert loaded.name == "census"
    assert loaded.table.column_names == ["age", "city", "income"]
    assert loaded.table.num_rows == 3
    assert pa.types.is_integer(loaded.table.schema.field("age").type)
    assert loaded.table.column("city").to_pylist() == ["Paris", None, "Lyon"]  # empty string is missing
    assert loaded.content_hash == hashlib.sha256(raw).hexdigest()
    assert loaded.location == str(tmp_path / "data.csv")


def test_csv_with_another_delimiter(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a;b\n1;x\n2;y\n", encoding="utf-8")

    loaded = read_source(_csv(delimiter=";"), tmp_path)

    assert loaded.table.to_pydict() == {"a": [1, 2], "b": ["x", "y"]}


def test_paths_are_relative_to_the_base_folder_unless_absolute(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.csv").write_text(GOOD_CSV, encoding="utf-8")

    relative = read_source(_csv("sub/data.csv"), tmp_path)
    absolute = read_source(_csv(str(tmp_path / "sub" / "data.csv")), tmp_path / "elsewhere")

    assert relative.table.equals(absolute.table)
    assert relative.location == absolute.location == str(tmp_path / "sub" / "data.csv")


def test_parquet_is_read_with_its_types(tmp_path: Path) -> None:
    table = pa.table({"x": pa.array([1.5, None, 3.0]), "flag": [True, False, True], "label": ["a", "b", "a"]})
    pq.write_table(table, tmp_path / "data.parquet")

    loaded = read_source(_parquet(), tmp_path)

    assert loaded.table.equals(table)
    assert loaded.content_hash == hashlib.sha256((tmp_path / "data.parquet").read_bytes()).hexdigest()
    assert loaded.location == str(tmp_path / "data.parquet")


def test_the_same_bytes_give_the_same_content_hash(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(GOOD_CSV, encoding="utf-8")
    (tmp_path / "b.csv").write_text(GOOD_CSV, encoding="utf-8")
    (tmp_path / "c.csv").write_text(GOOD_CSV.replace("39", "40"), encoding="utf-8")

    a, b, c = (read_source(_csv(n), tmp_path).content_hash for n in ("a.csv", "b.csv", "c.csv"))

    assert a == b != c


@pytest.mark.parametrize(
    ("content", "message", "found"),
    [
        (b"", r"CSV file for source 'census' is empty", "0 bytes"),
        (b"  \n\n \t\n", r"CSV file for source 'census' is empty", "only whitespace"),
        (b"age,city,income\n", r"has a header but no data rows", "columns age, city, income and 0 rows"),
        (b"a,b\n1,2\n3,4,5\n", r"CSV file for source 'census' cannot be parsed", None),
    ],
    ids=["empty", "whitespace", "header-only", "ragged-row"],
)
def test_bad_csv_files(tmp_path: Path, content: bytes, message: str, found: str | None) -> None:
    (tmp_path / "data.csv").write_bytes(content)

    with pytest.raises(DataError, match=message) as info:
        read_source(_csv(), tmp_path)

    if found is not None:
        assert info.value.where == str(tmp_path / "data.csv")
        assert info.value.found == found
    else:  # the ragged row's line, and the parser's own words
        assert info.value.where == f"{tmp_path / 'data.csv'}:3"
        assert info.value.found == "Expected 2 columns, got 3: 3,4,5"
        assert info.value.expected == "as many fields in every row as in the header"


def test_non_utf8_csv_names_the_line_and_byte(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_bytes("name,city\nann,Paris\nbob,Montr\xe9al\n".encode("latin-1"))

    with pytest.raises(DataError, match="is not valid UTF-8") as info:
        read_source(_csv(), tmp_path)

    assert info.value.where == f"{tmp_path / 'data.csv'}:3"
    assert info.value.found is not None and info.value.found.startswith("byte 0xe9 at offset ")
    assert "iconv" in (info.value.hint or "")


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_missing_file(tmp_path: Path, kind: str) -> None:
    spec = _csv("nope.csv") if kind == "csv" else _parquet("nope.parquet")

    with pytest.raises(DataError, match="data file for source 'census' not found") as info:
        read_source(spec, tmp_path)

    assert info.value.where == str(tmp_path / f"nope.{kind}")
    assert info.value.found == "no such file"
    assert info.value.expected == f"a {kind} file"


def test_a_folder_instead_of_a_file(tmp_path: Path) -> None:
    (tmp_path / "data.csv").mkdir()

    with pytest.raises(DataError, match="not found") as info:
        read_source(_csv(), tmp_path)

    assert info.value.found == "a folder"


def test_a_file_that_is_not_parquet(tmp_path: Path) -> None:
    (tmp_path / "data.parquet").write_text(GOOD_CSV, encoding="utf-8")

    with pytest.raises(DataError, match=re.escape("file for source 'census' is not a readable Parquet file")):
        read_source(_parquet(), tmp_path)


def test_an_empty_parquet_file(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": pa.array([], pa.int64())}), tmp_path / "data.parquet")

    with pytest.raises(DataError, match="Parquet file for source 'census' has no rows"):
        read_source(_parquet(), tmp_path)
