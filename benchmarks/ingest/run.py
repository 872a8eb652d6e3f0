"""CSV -> validated Parquet snapshot: aiforge (``aiforge.data.file_snapshot``: DuckDB reads the CSV and writes the
snapshot, the contract is checked on it, the snapshot is hashed into the artifact store) side by side with plain
DuckDB (``COPY (SELECT * FROM read_csv(...)) TO ... (FORMAT parquet)``) and pandas (``read_csv`` with the
pyarrow engine, then ``to_parquet``), on the same generated files, alternating, each run in its own process so
its peak memory is its own. Writes ``RESULTS.md`` beside this script.

    .venv/bin/python benchmarks/ingest/run.py                    # 1M and 10M rows, 3 rounds
    .venv/bin/python benchmarks/ingest/run.py --rows 1000000 --rounds 1 --results /tmp/ingest.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_memory import peak_mb

HERE = Path(__file__).resolve().parent
TOOLS = ("aiforge", "aiforge-unchecked", "duckdb", "pandas")
CONTRACT = {
    "rows": {"min": 1},
    "columns": {
        "id": {"type": "integer", "unique": True, "nullable": False},
        "age": {"type": "integer", "min": 0, "max": 120},
        "amount": {"max_missing": 0.05},
        "country": {"allowed": ["FR", "DE", "ES", "IT", "NL", "BE", "PT", "PL"]},
        "email": {"pattern": "[a-z0-9.]+@example\\.com"},
    },
}


def generate(path: Path, rows: int, seed: int = 1) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    countries = np.array(["FR", "DE", "ES", "IT", "NL", "BE", "PT", "PL"])
    chunk = 1_000_000
    with pacsv.CSVWriter(path, pa.schema([("id", pa.int64()), ("age", pa.int64()), ("amount", pa.float64()),
                                          ("country", pa.string()), ("email", pa.string()),
                                          ("signed_up", pa.timestamp("s"))])) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            ids = np.arange(start, start + n)
            amount = np.round(rng.lognormal(3, 1, n), 2)
            writer.write_table(pa.table({
                "id": ids, "age": rng.integers(18, 95, n),
                "amount": pa.array(amount, mask=rng.random(n) < 0.01),
                "country": countries[rng.integers(0, len(countries), n)],
                "email": np.char.add(np.char.add("user", ids.astype(str)), "@example.com"),
                "signed_up": np.datetime64("2020-01-01") + rng.integers(0, 5 * 365 * 86400, n).astype("timedelta64[s]"),
            }))
    return path.stat().st_size


def one(tool: str, csv: Path, work: Path) -> dict[str, float]:
    """Runs in a child process: one tool, one file; prints its figures."""
    out = work / f"{tool}.parquet"
    # imports first: the figures are the work, not the start-up of each library
    if tool.startswith("aiforge"):
        # what aiforge's path imports lazily, imported here before the clock as DuckDB is for the DuckDB figure;
        # pandas too: pyarrow imports it on its first conversion of Python values (pa.array of a list, 0.2-0.3 s)
        import duckdb  # noqa: F401
        import numpy  # noqa: F401
        import pandas  # noqa: F401
        import pyarrow.compute  # noqa: F401
        import pyarrow.parquet  # noqa: F401

        from aiforge.data import file_snapshot
        from aiforge.spec import Contract
        from aiforge.workspace import ArtifactStore
    elif tool == "duckdb":
        import duckdb
    else:
        import pandas as pd
    started, cpu = time.perf_counter(), _cpu()
    if tool.startswith("aiforge"):
        contract = Contract.model_validate(CONTRACT) if tool == "aiforge" else None
        snap = file_snapshot([csv], ArtifactStore(work / "store"), contract=contract, temp_dir=work)
        rows, size = snap.rows, snap.bytes
    elif tool == "duckdb":
        con = duckdb.connect()
        con.execute(f"COPY (SELECT * FROM read_csv('{csv}')) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
        rows = int(con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0])  # type: ignore[index]
        size = out.stat().st_size
    else:
        frame = pd.read_csv(csv, engine="pyarrow")
        frame.to_parquet(out, compression="zstd", index=False)
        rows, size = len(frame), out.stat().st_size
    return {"seconds": time.perf_counter() - started, "cpu_seconds": _cpu() - cpu, "rows": rows,
            "parquet_bytes": size, "peak_rss_mb": peak_mb()}


def _cpu() -> float:
    """CPU seconds of this process, every thread (DuckDB's and Arrow's) included: less at the mercy of other work
    on a shared machine than the wall clock."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(tool: str, csv: Path, work: Path) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--child", tool, "--csv", str(csv), "--work", str(work)],
                          capture_output=True, text=True, timeout=3600, env={**os.environ, "OMP_NUM_THREADS": "2"})
    if proc.returncode != 0:
        raise SystemExit(f"{tool} failed:\n{proc.stderr[-3000:]}")
    for leftover in work.glob("*.parquet"):
        leftover.unlink()
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child")
    parser.add_argument("--csv", type=Path)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md",
                        help="where the table goes (a trial run on a loaded machine: elsewhere than RESULTS.md)")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args.child, args.csv, args.work)))
        return
    results: dict[int, dict[str, list[dict[str, float]]]] = {}
    sizes: dict[int, int] = {}
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="aiforge-ingest-") as tmp:
        work = Path(tmp)
        for rows in args.rows:
            csv = work / f"rows-{rows}.csv"
            sizes[rows] = generate(csv, rows)
            results[rows] = {t: [] for t in TOOLS}
            for r in range(args.rounds):
                order = TOOLS[r % len(TOOLS):] + TOOLS[:r % len(TOOLS)]  # the order rotates every round
                for tool in order:
                    loads.append(os.getloadavg()[0])
                    results[rows][tool].append(run(tool, csv, work))
                    print(rows, tool, results[rows][tool][-1], flush=True)
            csv.unlink()
    report(args, results, sizes, loads)


def report(args: argparse.Namespace, results: dict[int, dict[str, list[dict[str, float]]]], sizes: dict[int, int],
           loads: list[float]) -> None:
    from importlib.metadata import version

    lines = [
        "# Ingest: CSV -> validated Parquet snapshot",
        "",
        f"Generated by `benchmarks/ingest/run.py --rows {' '.join(map(str, args.rows))} --rounds {args.rounds}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {platform.machine()}, {os.cpu_count()} cores, "
        f"1-minute load average {min(loads):.1f}-{max(loads):.1f} over the runs (a shared machine: other work ran). "
        f"DuckDB {version('duckdb')}, pandas {version('pandas')}, pyarrow {version('pyarrow')}.",
        "",
        "Each tool reads the same CSV (id, age, amount with 1% missing, country, email, signup timestamp) and "
        "writes zstd Parquet, in its own process, the order rotating every round; medians over the rounds "
        "(min-max in brackets).",
        "",
        "- **aiforge**: `aiforge.data.file_snapshot` — DuckDB reads the CSV and writes the snapshot, then the "
        "data contract (types, uniqueness of id, non-null, age range, allowed countries, email pattern, max "
        "missing) is checked on it — row count, missing values and ranges from the statistics DuckDB returns "
        "for the file it wrote, the id's duplicates on a byte map, allowed values and the pattern with Arrow "
        "kernels over the file's row groups, while the file is hashed (SHA-256) and synced and DuckDB's "
        "connection closed beside the check — and only then moved into the artifact store. Memory is bounded "
        "by DuckDB's buffer manager, not by the file size.",
        "- **aiforge-unchecked**: the same without a contract (the snapshot, its hash and the store only): the "
        "cost of aiforge's path itself, apart from the validation.",
        "- **DuckDB**: `COPY (SELECT * FROM read_csv(f)) TO p (FORMAT parquet)`, no validation, no hash.",
        "- **pandas**: `read_csv(f, engine='pyarrow').to_parquet(p)`, no validation: the whole table in memory.",
        "",
        "Throughput against DuckDB is given three ways: the ratio of the medians; the median over rounds of each "
        "round's ratio (the two runs of a round are close in time, so they share the machine's load more "
        "nearly); and the ratio of CPU seconds (every thread of the process: the work done, whatever else ran).",
        "",
        "| rows | CSV MB | tool | seconds | rows/s | CPU s | peak RSS MB | vs DuckDB: medians | per round | CPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for rows, by_tool in results.items():
        duck = statistics.median(r["seconds"] for r in by_tool["duckdb"])
        duck_cpu = statistics.median(r["cpu_seconds"] for r in by_tool["duckdb"])
        for tool in TOOLS:
            runs = by_tool[tool]
            secs = [r["seconds"] for r in runs]
            med = statistics.median(secs)
            cpu = statistics.median(r["cpu_seconds"] for r in runs)
            rss = statistics.median(r["peak_rss_mb"] for r in runs)
            paired = statistics.median(d["seconds"] / r["seconds"]
                                       for d, r in zip(by_tool["duckdb"], runs, strict=True))
            lines.append(f"| {rows:,} | {sizes[rows] / 2**20:,.0f} | {tool} | {med:.2f} ({min(secs):.2f}-"
                         f"{max(secs):.2f}) | {rows / med:,.0f} | {cpu:.2f} | {rss:,.0f} | {duck / med:.0%} | "
                         f"{paired:.0%} | {duck_cpu / cpu:.0%} |")
            if tool == "aiforge":
                verdicts.append(f"{rows:,} rows: {duck / med:.0%} by medians, {paired:.0%} per round, "
                                f"{duck_cpu / cpu:.0%} by CPU time")
    lines += ["", "Goal (issue 7): aiforge at least 80% of plain DuckDB's throughput, with bounded memory. Measured: "
              + "; ".join(verdicts) + ".", ""]
    args.results.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
