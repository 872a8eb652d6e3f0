"""aiforge's ETL (data.steps in DuckDB) on a file at least 4x larger than the memory the process may use.

    .venv/bin/python benchmarks/ingest/etl_larger_than_memory.py             # 512 MB limit, ~2.1 GB of data
    .venv/bin/python benchmarks/ingest/etl_larger_than_memory.py --limit-mb 384 --factor 5

1. Generates a Parquet file (in row groups, so the generator's memory stays small) whose data take at least
   ``factor`` times ``limit-mb`` in memory (Arrow's in-memory size, measured on each written batch).
2. Runs, in a child process confined to ``limit-mb`` (a cgroup v1 memory limit when this machine lets us create
   one — the kernel kills the process past it; otherwise RLIMIT_DATA, and the peak is reported either way),
   two chains of ``aiforge.data.step_batches`` over the file (DuckDB scans it within its memory limit), writing
   the result to Parquet batch by batch:
   - row-wise: filter, derive, join with a small table, clip, cast — in the input's order (a sort that spills);
   - aggregate: per customer (about a million groups) then a filter on the groups.
3. Checks the row counts against an independent pass with pyarrow over the row groups, and writes
   ``ETL_LARGER_THAN_MEMORY.md`` beside this script.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_memory import peak_mb

HERE = Path(__file__).resolve().parent
CGROUP = Path("/sys/fs/cgroup/memory")

ROW_WISE = [
    {"filter": "amount > 5 AND status <> 'void'"},
    {"derive": {"amount_eur": "amount * 0.92", "day": "CAST(ts AS DATE)"}},
    {"join": {"source": "categories", "keys": ["category"], "how": "left"}},
    {"clip": {"amount_eur": {"min": 0, "max": 5000}}},
    {"cast": {"customer": "VARCHAR"}},
]
AGGREGATE = [
    {"filter": "status <> 'void'"},
    {"aggregate": {"by": ["customer"], "columns": {"orders": "count(*)", "spend": "sum(amount)",
                                                   "last_seen": "max(ts)"}}},
    {"filter": "orders >= 2"},
]


def generate(path: Path, target_bytes: int, seed: int = 7) -> dict[str, int]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    statuses = np.array(["paid", "shipped", "void", "refunded"])
    categories = np.array([f"cat_{i:02d}" for i in range(50)])
    rows = in_memory = 0
    batch = 1_000_000
    start = np.datetime64("2026-01-01T00:00:00")
    with pq.ParquetWriter(path, pa.schema([
        ("id", pa.int64()), ("customer", pa.int64()), ("amount", pa.float64()), ("category", pa.string()),
        ("status", pa.string()), ("ts", pa.timestamp("s")), ("note", pa.string()),
    ]), compression="zstd") as writer:
        while in_memory < target_bytes:
            ids = np.arange(rows, rows + batch, dtype=np.int64)
            table = pa.table({
                "id": ids,
                "customer": rng.integers(0, 1_000_000, batch),
                "amount": np.round(rng.lognormal(3, 1.2, batch), 2),
                "category": categories[rng.integers(0, len(categories), batch)],
                "status": statuses[rng.choice(4, batch, p=[0.6, 0.25, 0.1, 0.05])],
                "ts": start + rng.integers(0, 300 * 86400, batch).astype("timedelta64[s]"),
                "note": np.char.add("order note ", (ids % 100_003).astype(str)),
            })
            writer.write_table(table, row_group_size=250_000)
            rows += batch
            in_memory += table.nbytes
    return {"rows": rows, "in_memory_bytes": in_memory, "file_bytes": path.stat().st_size}


def expected_counts(path: Path) -> dict[str, int]:
    """Row counts by an independent pass over the row groups with pyarrow (not DuckDB)."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    row_wise = 0
    orders = np.zeros(1_000_000, dtype=np.int64)  # non-void orders per customer
    for i in range(file.num_row_groups):
        group = file.read_row_group(i, columns=["amount", "status", "customer"])
        kept = pc.not_equal(group.column("status"), "void")
        row_wise += pc.sum(pc.and_(pc.greater(group.column("amount"), 5), kept)).as_py() or 0
        customers = group.column("customer").filter(kept).to_numpy()
        orders += np.bincount(customers, minlength=len(orders))
    return {"row_wise": int(row_wise), "aggregate": int((orders >= 2).sum())}


def child(path: Path, out: Path, chain: str, duckdb_limit: str, spill: Path) -> dict[str, object]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pydantic import TypeAdapter

    from aiforge.data import step_batches
    from aiforge.spec import EtlStep

    steps = TypeAdapter(list[EtlStep]).validate_python(ROW_WISE if chain == "row_wise" else AGGREGATE)
    categories = pa.table({"category": [f"cat_{i:02d}" for i in range(50)],
                           "department": [f"dept_{i % 7}" for i in range(50)]})
    started = time.perf_counter()
    rows = 0
    writer = None
    for batch in step_batches(path, {"categories": categories}, steps, memory_limit=duckdb_limit,
                              temp_dir=spill, threads=2, ordered=chain == "row_wise"):
        if writer is None:
            writer = pq.ParquetWriter(out, batch.schema, compression="zstd")
        writer.write_batch(batch)
        rows += batch.num_rows
    if writer is not None:
        writer.close()
    return {"chain": chain, "rows_out": rows, "seconds": round(time.perf_counter() - started, 2),
            "peak_rss_mb": round(peak_mb(), 1)}


def confine(limit_bytes: int) -> tuple[str, Path | None]:
    """A cgroup v1 memory limit for the child, if one can be made here; else RLIMIT_DATA."""
    group = CGROUP / f"aiforge-etl-{os.getpid()}"
    try:
        group.mkdir()
        (group / "memory.limit_in_bytes").write_text(str(limit_bytes))
        (group / "memory.swappiness").write_text("0")
        return "cgroup v1 memory.limit_in_bytes (the kernel kills the process past it)", group
    except OSError:
        return "RLIMIT_DATA (cgroups not writable here)", None


def run_child(args: argparse.Namespace, path: Path, chain: str, work: Path) -> dict[str, object]:
    limit = args.limit_mb * 1024 * 1024
    how, group = confine(limit)
    duckdb_limit = f"{max(64, args.limit_mb // 4)}MB"  # the rest: Python, Arrow, one batch, the Parquet writer
    command = [sys.executable, __file__, "--child", chain, "--file", str(path), "--out", str(work / f"{chain}.parquet"),
               "--duckdb-limit", duckdb_limit, "--spill", str(work / "spill")]

    def enter() -> None:
        if group is not None:
            (group / "cgroup.procs").write_text(str(os.getpid()))
        else:
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

    try:
        proc = subprocess.run(command, capture_output=True, text=True, preexec_fn=enter, timeout=3600)
        peak_group = int((group / "memory.max_usage_in_bytes").read_text()) if group is not None else None
        failcnt = int((group / "memory.failcnt").read_text()) if group is not None else None
    finally:
        if group is not None:
            group.rmdir()
    if proc.returncode != 0:
        return {"chain": chain, "failed": proc.returncode, "stderr": proc.stderr[-2000:], "confinement": how}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result |= {"confinement": how, "duckdb_memory_limit": duckdb_limit,
               "cgroup_peak_mb": round(peak_group / 2**20, 1) if peak_group is not None else None,
               "cgroup_limit_hits": failcnt}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-mb", type=int, default=512)
    parser.add_argument("--factor", type=float, default=4.0)
    parser.add_argument("--child")
    parser.add_argument("--file", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--duckdb-limit")
    parser.add_argument("--spill", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.file, args.out, args.child, args.duckdb_limit, args.spill)))
        return
    with tempfile.TemporaryDirectory(prefix="aiforge-etl-") as tmp:
        work = Path(tmp)
        path = work / "orders.parquet"
        started = time.perf_counter()
        data = generate(path, int(args.factor * args.limit_mb * 1024 * 1024))
        data["generate_seconds"] = round(time.perf_counter() - started, 1)
        expected = expected_counts(path)
        results = [run_child(args, path, chain, work) for chain in ("row_wise", "aggregate")]
    report(args, data, expected, results)


def report(args: argparse.Namespace, data: dict[str, int], expected: dict[str, int],
           results: list[dict[str, object]]) -> None:
    import duckdb
    import pyarrow

    lines = [
        "# ETL on data larger than memory",
        "",
        f"Generated by `benchmarks/ingest/etl_larger_than_memory.py --limit-mb {args.limit_mb} --factor "
        f"{args.factor:g}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; DuckDB {duckdb.__version__}, pyarrow "
        f"{pyarrow.__version__}.",
        "",
        f"Input: {data['rows']:,} rows, **{data['in_memory_bytes'] / 2**20:,.0f} MB in memory** (Arrow), "
        f"{data['file_bytes'] / 2**20:,.0f} MB as Parquet (zstd); the process may use **{args.limit_mb} MB**: "
        f"the data are {data['in_memory_bytes'] / (args.limit_mb * 2**20):.1f}x that. "
        f"Generated in {data['generate_seconds']} s.",
        "",
        "| chain | steps | rows out | expected | seconds | peak RSS (MB) | cgroup peak (MB) | limit hits "
        "| confinement |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        steps = ROW_WISE if r["chain"] == "row_wise" else AGGREGATE
        kinds = ", ".join(next(iter(s)) for s in steps)
        if "failed" in r:
            lines.append(f"| {r['chain']} | {kinds} | FAILED (exit {r['failed']}) | | | | | | {r['confinement']} |")
            continue
        want = expected.get(str(r["chain"]), "—")
        lines.append(f"| {r['chain']} | {kinds} | {r['rows_out']:,} | "
                     f"{want if isinstance(want, str) else f'{want:,}'} | {r['seconds']} | {r['peak_rss_mb']} | "
                     f"{r['cgroup_peak_mb']} | {r['cgroup_limit_hits']} | {r['confinement']}; DuckDB memory_limit "
                     f"{r['duckdb_memory_limit']} |")
    lines += ["", "Row-wise output is in the input's order (DuckDB sorts it back, spilling to disk); the aggregate "
              "has about a million groups. `limit hits` counts the times the cgroup pushed memory back (reclaiming "
              "page cache counts too); the kernel would have killed the process had it needed more.", ""]
    failed = [r for r in results if "failed" in r]
    for r in failed:
        lines += [f"`{r['chain']}` failed:", "", "```", str(r["stderr"]), "```", ""]
    (HERE / "ETL_LARGER_THAN_MEMORY.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
