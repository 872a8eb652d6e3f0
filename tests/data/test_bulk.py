"""file_snapshot: files to a validated snapshot through DuckDB alone — the same rows as the file, the same id for
the same input, the contract checked with SQL, nothing stored when it breaks."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from pydantic import TypeAdapter

from aiforge.data import ContractError, file_snapshot
from aiforge.spec import Contract, EtlStep
from aiforge.workspace import ArtifactStore

CSV = "id,age,country,email,seen\n" + "".join(
    f"{i},{20 + i % 50},{['FR', 'DE', 'ES'][i % 3]},user{i}@example.com,2026-11-2{i % 7}T10:00:00\n"
    for i in range(1000))


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def test_the_snapshot_holds_the_file_s_rows_and_is_content_addressed(csv: Path, tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    snap = file_snapshot([csv], store, contract=Contract.model_validate({
        "rows": {"min": 1000, "max": 1000},
        "columns": {"id": {"type": "integer", "unique": True, "nullable": False},
                    "age": {"min": 20, "max": 69}, "country": {"allowed": ["FR", "DE", "ES"]},
                    "email": {"pattern": "user[0-9]+@example\\.com"}, "seen": {"type": "timestamp"}}}))
    assert snap.rows == 1000 and snap.contract.passed and len(snap.contract.checked) == 10
    table = pq.read_table(io.BytesIO(store.get_bytes(snap.id)))
    assert table.column("id").to_pylist() == list(range(1000))
    assert table.select(["id", "age", "country"]).equals(pacsv.read_csv(csv).select(["id", "age", "country"]))
    assert file_snapshot([csv], store).id == snap.id  # same input, same snapshot


def test_steps_run_on_the_way(csv: Path, tmp_path: Path) -> None:
    steps = TypeAdapter(list[EtlStep]).validate_python([{"filter": "country = 'FR'"},
                                                          {"derive": {"decade": "age // 10"}}])
    store = ArtifactStore(tmp_path / "store")
    snap = file_snapshot([csv], store, steps=steps)
    table = pq.read_table(io.BytesIO(store.get_bytes(snap.id)))
    assert snap.rows == 334 and set(table.column("country").to_pylist()) == {"FR"} and "decade" in table.column_names


def test_a_broken_contract_stores_nothing(csv: Path, tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    contract = Contract.model_validate({"rows": {"max": 10}, "columns": {
        "age": {"max": 30}, "country": {"allowed": ["FR"]}, "id": {"type": "string"},
        "email": {"pattern": "nobody@.*"}, "seen": {"freshness": "1h"}}})
    with pytest.raises(ContractError) as caught:
        file_snapshot([csv], store, contract=contract)
    broken = {v.rule: v.count for v in caught.value.report.violations}
    assert broken == {"rows.max": 1000, "age.max": 780, "country.allowed": 666, "id.type": 0,
                      "email.pattern": 1000, "seen.freshness": 1000}
    assert not [p for p in (tmp_path / "store").rglob("*") if p.is_file()]


def test_the_writer_s_statistics_answer_as_a_scan_would(tmp_path: Path) -> None:
    """Rows, missing values and ranges that hold come from the statistics of the written file; every answer,
    kept or broken, is the one a scan of the file gives."""
    from aiforge.data._bulk import _check, _Stats

    path = tmp_path / "mixed.csv"
    path.write_text("n,x,t\n" + "".join(f"{i},{'' if i % 10 == 0 else i / 2},2026-11-2{i % 7}\n"
                                        for i in range(500)), encoding="utf-8")
    store = ArtifactStore(tmp_path / "store")
    kept = {"n": {"nullable": False, "min": 0, "max": 499}, "x": {"max_missing": 0.2, "min": 0.5, "max": 249.5},
            "t": {"type": "date", "min": "2026-11-20"}}
    broken = {"n": {"min": 10, "max": 400}, "x": {"nullable": False, "max_missing": 0.01}}
    for rules in (kept, broken):
        contract = Contract.model_validate({"rows": {"min": 500}, "columns": rules})
        written = tmp_path / "written.parquet"
        import duckdb

        stats = duckdb.sql(f"COPY (SELECT * FROM read_csv('{path}')) TO '{written}' "
                           "(FORMAT parquet, RETURN_STATS)").fetchall()[0]
        with_stats = _check(written, contract, duckdb.connect(), _Stats(stats[1], stats[4]))
        scanned = _check(written, contract, duckdb.connect())
        assert with_stats == scanned
        assert with_stats.passed is (rules is kept)
    assert {v.rule: v.count for v in scanned.violations} == {"n.min": 10, "n.max": 99, "x.nullable": 50,
                                                             "x.max_missing": 50}
    answers = _Stats(stats[1], stats[4])
    n_rules = Contract.model_validate({"columns": kept}).columns["n"]
    assert answers.answer("x", "nullable", None) == 50 and answers.answer("n", "min", n_rules) == 0  # no scan
    assert answers.answer("n", "min", Contract.model_validate({"columns": broken}).columns["n"]) is None  # a scan
    assert file_snapshot([path], store, contract=Contract.model_validate({"columns": kept})).contract.passed


def test_duplicates_of_an_integer_column_are_counted_on_a_byte_map_as_sql_counts_them(tmp_path: Path) -> None:
    import duckdb

    from aiforge.data._bulk import _check, _duplicates, _Stats

    path = tmp_path / "ids.csv"  # u: unique; d: 200 repeats; g: a range too wide for a byte map; s: text
    path.write_text("u,d,g,s\n" + "".join(f"{i - 250},{'' if i % 50 == 0 else i % 300},{i * 10**12},k{i % 7}\n"
                                          for i in range(500)), encoding="utf-8")
    written = tmp_path / "ids.parquet"
    row = duckdb.sql(f"COPY (SELECT * FROM read_csv('{path}')) TO '{written}' "
                     "(FORMAT parquet, RETURN_STATS)").fetchall()
    stats = _Stats(row[0][1], row[0][4])
    assert _duplicates(written, "u", stats, "BIGINT") == 0
    assert _duplicates(written, "d", stats, "BIGINT") == 490 - 294  # 490 values; 0, 50, ..., 250 only where missing
    assert _duplicates(written, "g", stats, "BIGINT") is None and _duplicates(written, "s", stats, "VARCHAR") is None
    contract = Contract.model_validate({"columns": {c: {"unique": True} for c in "udgs"}})
    assert _check(written, contract, duckdb.connect(), stats) == _check(written, contract, duckdb.connect())
    assert {v.rule: v.count for v in _check(written, contract, duckdb.connect(), stats).violations} == {"d.unique": 196,
                                                                                            "s.unique": 493}


def test_allowed_values_and_patterns_are_checked_as_check_contract_checks_them(csv: Path, tmp_path: Path) -> None:
    from aiforge.data import check_contract

    contract = Contract.model_validate({"columns": {
        "country": {"allowed": ["FR", "DE"]}, "email": {"pattern": "^user[0-9]{1,2}@"},  # whole values: none match
        "id": {"pattern": "[0-9]+"}}})
    with pytest.raises(ContractError) as caught:
        file_snapshot([csv], ArtifactStore(tmp_path / "store"), contract=contract)
    bulk = {v.rule: v.count for v in caught.value.report.violations}
    in_memory = {v.rule: v.count for v in check_contract(pacsv.read_csv(csv), contract).violations}
    assert bulk == in_memory == {"country.allowed": 333, "email.pattern": 1000, "id.pattern": 1000}


def test_csv_files_are_sniffed_once_and_read_with_what_the_sniffer_found(tmp_path: Path) -> None:
    from aiforge.data._bulk import _scan

    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    a.write_text('id;note;day\n1;"a; quoted, note";2026-01-02\n2;plain;2026-01-03\n', encoding="utf-8")
    b.write_text('id;note;day\n3;"more ""quotes""";2026-01-04\n', encoding="utf-8")
    c.write_text("id,extra\n4,x\n", encoding="utf-8")  # another dialect and other columns
    same = _scan([str(a), str(b)], sniff=True)
    assert "auto_detect = false" in same and "delim = ';'" in same and "'day': 'DATE'" in same
    assert "union_by_name" in _scan([str(a), str(c)], sniff=True)  # the files disagree: DuckDB reconciles them by name

    store = ArtifactStore(tmp_path / "store")
    table = pq.read_table(io.BytesIO(store.get_bytes(file_snapshot([a, b], store).id)))
    assert table.column("note").to_pylist() == ["a; quoted, note", "plain", 'more "quotes"']
    assert str(table.column("day").type) == "date32[day]"
    mixed = pq.read_table(io.BytesIO(store.get_bytes(file_snapshot([a, c], store).id)))
    assert mixed.column("id").to_pylist() == [1, 2, 4] and mixed.column("extra").to_pylist() == [None, None, "x"]


def test_the_connection_is_released_before_the_arrow_checks_only_when_no_rule_needs_a_scan(tmp_path: Path) -> None:
    """file_snapshot closes its DuckDB connection beside the Arrow checks when the writer's statistics and the
    byte maps answer every aggregate (``release``); a rule that needs the SQL scan keeps it until the scan. The
    release closes the connection here, so a check that still used it would fail."""
    import duckdb

    from aiforge.data._bulk import _check, _Stats

    path = tmp_path / "rows.csv"
    path.write_text("id,code,seen\n" + "".join(f"{i},c{i % 3},2026-01-0{1 + i % 5}T00:00:00\n" for i in range(300)),
                    encoding="utf-8")
    written = tmp_path / "rows.parquet"
    row = duckdb.sql(f"COPY (SELECT * FROM read_csv('{path}')) TO '{written}' "
                     "(FORMAT parquet, RETURN_STATS)").fetchall()
    stats = _Stats(row[0][1], row[0][4])
    answered = Contract.model_validate({"rows": {"min": 300}, "columns": {
        "id": {"type": "integer", "unique": True, "nullable": False, "min": 0},
        "code": {"allowed": ["c0", "c1"], "pattern": "c[0-9]"}}})
    scanning = Contract.model_validate({"columns": {"code": {"unique": True}, "seen": {"freshness": "1h"}}})
    for contract, scans in ((answered, False), (scanning, True)):
        con, released = duckdb.connect(), []
        report = _check(written, contract, con, stats,
                        release=lambda c=con, r=released: (r.append(c), c.close()))
        assert report == _check(written, contract, duckdb.connect())
        assert released == ([] if scans else [con])
    assert {v.rule: v.count for v in report.violations} == {"code.unique": 297, "seen.freshness": 300}
    assert {v.rule: v.count for v in _check(written, answered, duckdb.connect(), stats).violations} == {
        "code.allowed": 100}


def test_one_file_is_read_as_it_is_and_several_are_reconciled_by_column_name(tmp_path: Path) -> None:
    """union_by_name costs a single CSV 7% more CPU and reconciles nothing there: only several files get it."""
    from aiforge.data._bulk import _scan

    one, two = str(tmp_path / "a.csv"), str(tmp_path / "b.csv")
    assert "union_by_name" not in _scan([one], sniff=False) + _scan([one.replace(".csv", ".parquet")], sniff=False)
    assert "union_by_name" in _scan([one, two], sniff=False)
    assert "union_by_name" in _scan([one.replace(".csv", ".parquet"), two.replace(".csv", ".parquet")], sniff=False)
