"""Drift benchmark: aiforge's drift report against Evidently's DataDriftPreset on the same Parquet files,
in alternating rounds, each measurement in a fresh process (for its peak memory). Writes RESULTS.md.

    .venv/bin/python benchmarks/drift/run.py            # full run (15 to 25 minutes on 2 cores, most of it Evidently)
    .venv/bin/python benchmarks/drift/run.py --quick    # smoke run: 100k and 1M rows, 1 round, no Evidently at 1M
    .venv/bin/python benchmarks/drift/run.py --report-only benchmarks/drift/results/full.json   # RESULTS.md again

Evidently's virtual environment (.venv-evidently beside this file: Evidently 0.7 needs pandas < 3) and the data
(data/, about 3 GB with 10M rows) are created on first use; see README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import dataset  # noqa: E402
import report  # noqa: E402

EVIDENTLY = "evidently==0.7.23"
EVIDENTLY_PANDAS = "pandas==2.3.3"  # the newest pandas 2: Evidently 0.7 requires pandas < 3
SHARED_PINS = ("numpy", "scipy", "pyarrow")  # the project's versions, so both sides read and compute alike
VENV = HERE / ".venv-evidently"
DATA = HERE / "data"
REFERENCE_ROWS = 100_000


# ---------------------------------------------------------------- data and environments


def data_key() -> str:
    """Changes when the generator does: the data is made again."""
    return hashlib.sha256((HERE / "dataset.py").read_bytes()).hexdigest()[:12]


def ensure_data(sizes: list[int]) -> dict[str, Path]:
    manifest = DATA / "manifest.json"
    key = data_key()
    known = json.loads(manifest.read_text()) if manifest.exists() else {}
    if known.get("key") != key:
        known = {"key": key, "files": {}}
    cols = dataset.columns()
    wanted = {"reference": (REFERENCE_ROWS, False, 0), **{f"current_{n}": (n, True, 1) for n in sizes}}
    paths = {}
    for name, (rows, current, tag) in wanted.items():
        path = DATA / f"{name}.parquet"
        if known["files"].get(name) != rows or not path.exists():
            print(f"generating {path.name} ({rows:,} rows) ...", flush=True)
            started = time.perf_counter()
            dataset.write(path, cols, rows, current=current, tag=tag)
            print(f"  {time.perf_counter() - started:.0f} s, {path.stat().st_size / 2**20:.0f} MiB", flush=True)
            known["files"][name] = rows
            manifest.write_text(json.dumps(known))
        paths[name] = path
    return paths


def pins() -> list[str]:
    lines = (REPO / "constraints.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.split("==")[0].strip().lower() in SHARED_PINS]


def ensure_evidently() -> None:
    python = VENV / "bin" / "python"
    wanted = EVIDENTLY.split("==")[1]
    if python.exists():
        probe = subprocess.run([str(python), "-c", "import evidently; print(evidently.__version__)"],
                               capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout.strip() == wanted:
            return
    print(f"setting up {VENV} ({EVIDENTLY}, {EVIDENTLY_PANDAS}) ...", flush=True)
    if not python.exists():
        subprocess.run(["/usr/bin/python3.11" if Path("/usr/bin/python3.11").exists() else "python3", "-m", "venv",
                        str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", EVIDENTLY, EVIDENTLY_PANDAS, *pins()], check=True)


def versions(python: Path, modules: list[str]) -> dict[str, str]:
    code = ("import importlib.metadata as m, json, platform\nout = {'python': platform.python_version()}\n"
            f"for name in {modules!r}:\n    try:\n        out[name] = m.version(name)\n"
            "    except m.PackageNotFoundError:\n        out[name] = 'not installed'\nprint(json.dumps(out))")
    return json.loads(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout)


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "memory_gib": round(mem_kb / 2**20, 1)}


def commit() -> dict[str, Any]:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=REPO, capture_output=True,
                           text=True).stdout.splitlines()
    return {"commit": head, "uncommitted_src": sorted(line[3:] for line in dirty)}


# ---------------------------------------------------------------- measurements (each in its own process)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: not ru_maxrss, which Linux carries over from the parent
    across fork and exec, so a child would report at least its parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_build(reference: Path, out: Path) -> dict[str, Any]:
    """Training-time cost: read the reference sample and build the stored profile (JSON)."""
    import pandas as pd
    import scipy.stats  # noqa: F401 - imported before the clock starts, as in the other measurements

    from aiforge.data import ReferenceProfile

    started = time.perf_counter()
    frame = pd.read_parquet(reference)
    read = time.perf_counter()
    profile = ReferenceProfile.build(frame, categorical=[c.name for c in dataset.columns() if c.categorical])
    text = json.dumps(profile.to_json())
    out.write_text(text)
    done = time.perf_counter()
    return {"read_s": read - started, "build_s": done - read, "json_bytes": len(text), "peak_rss_mb": peak_rss_mb()}


def measure_aiforge(mode: str, profile_path: Path, current: Path) -> dict[str, Any]:
    """aiforge as monitoring runs it: the stored profile loaded from its JSON, the window read from Parquet."""
    started = time.perf_counter()
    import pyarrow.compute  # noqa: F401 - the measures' own imports, before the clock starts
    import pyarrow.parquet as pq
    import scipy.stats  # noqa: F401

    from aiforge.data import ReferenceProfile
    from aiforge.monitor import detect_drift, detect_drift_in_parquet

    imported = time.perf_counter()
    rss_imported = peak_rss_mb()
    clock, cpu = time.perf_counter(), time.process_time()
    profile = ReferenceProfile.from_json(json.loads(profile_path.read_text()))
    if mode == "stream":
        report = detect_drift_in_parquet(profile, current)
    else:
        report = detect_drift(profile, pq.read_table(current))
    result = report.to_json()
    seconds, cpu = time.perf_counter() - clock, time.process_time() - cpu
    return {"rows": report.rows, "import_s": imported - started, "seconds": seconds, "cpu_s": cpu,
            "peak_rss_mb": peak_rss_mb(),
            "rss_after_import_mb": rss_imported,
            "columns": {c["name"]: {"method": c["method"], "threshold": c["threshold"], "score": c["effect"],
                                    "p_value": c["p_value"], "drifted": c["drifted"]} for c in result["columns"]}}


def run_measure(args: list[str], python: Path | None = None) -> dict[str, Any]:
    python = python or Path(sys.executable)
    script = HERE / ("peer.py" if args[0] == "evidently" else "run.py")
    command = [str(python), str(script), *(args[1:] if args[0] == "evidently" else ["--measure", *args])]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=HERE,
                          env={**os.environ, "DO_NOT_TRACK": "1", "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["load_1min"] = load
    out["process_s"] = time.perf_counter() - started
    return out


# ---------------------------------------------------------------- the rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--evidently-sizes", default="100000,1000000",
                        help="window sizes Evidently runs at (at 1M it needs minutes and GBs per run)")
    parser.add_argument("--evidently-large-rounds", type=int, default=1,
                        help="how many rounds run Evidently at 1M rows and more (default 1)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--report-only", type=Path)
    args = parser.parse_args()

    if args.measure:
        what = args.measure
        result = (measure_build(Path(what[1]), Path(what[2])) if what[0] == "build"
                  else measure_aiforge(what[0], Path(what[1]), Path(what[2])))
        print(json.dumps(result))
        return
    if args.report_only:
        write_report(json.loads(args.report_only.read_text()))
        return

    sizes = [100_000, 1_000_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    evidently_sizes = [100_000] if args.quick else [int(s) for s in args.evidently_sizes.split(",")]
    rounds = args.rounds or (1 if args.quick else 5)
    out = args.out or HERE / "results" / ("quick.json" if args.quick else "full.json")
    out.parent.mkdir(exist_ok=True)
    begun = time.time()

    ensure_evidently()
    paths = ensure_data(sizes)
    profile_path = DATA / "reference-profile.json"
    for path in paths.values():  # into the page cache: no tool pays the first read from disk
        with path.open("rb") as f:
            while f.read(1 << 24):
                pass

    builds = [run_measure(["build", str(paths["reference"]), str(profile_path)]) for _ in range(3)]
    runs: list[dict[str, Any]] = []
    for r in range(rounds):
        for n in sizes:
            tools = ["aiforge-stream", "aiforge-oneshot"]
            if n in evidently_sizes and (n < 1_000_000 or r < args.evidently_large_rounds):
                tools.append("evidently")
            shift = r % len(tools)
            for tool in tools[shift:] + tools[:shift]:
                current = str(paths[f"current_{n}"])
                if tool == "evidently":
                    result = run_measure(["evidently", str(paths["reference"]), current], VENV / "bin" / "python")
                    result["seconds"] = result["report_s"]
                else:
                    result = run_measure([tool.split("-")[1], str(profile_path), current])
                result.update(tool=tool, size=n, round=r)
                runs.append(result)
                print(f"round {r + 1}/{rounds}  {n:>10,} rows  {tool:16s} {result['seconds']:8.2f} s  "
                      f"peak {result['peak_rss_mb']:7.0f} MB  load {result['load_1min']:.2f}", flush=True)
                out.write_text(json.dumps({"partial": True, "runs": runs}))

    cols = dataset.columns()
    results = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "minutes": (time.time() - begun) / 60,
        "quick": args.quick, "rounds": rounds, "sizes": sizes, "evidently_sizes": evidently_sizes,
        "evidently_large_rounds": args.evidently_large_rounds, "reference_rows": REFERENCE_ROWS,
        "machine": machine(), **commit(),
        "versions": {"aiforge": versions(Path(sys.executable), ["numpy", "pandas", "pyarrow", "scipy"]),
                     "evidently": versions(VENV / "bin" / "python",
                                           ["evidently", "numpy", "pandas", "pyarrow", "scipy"])},
        "columns": [{"name": c.name, "kind": c.kind, "missing": c.missing, "drift": c.note, "drifted": bool(c.drift)}
                    for c in cols],
        "files": {name: {"rows": dataset_rows(name), "mib": round(p.stat().st_size / 2**20, 1)}
                  for name, p in paths.items()},
        "builds": builds, "runs": runs,
    }
    out.write_text(json.dumps(results, indent=1))
    print(f"raw results: {out}")
    write_report(results)


def dataset_rows(name: str) -> int:
    return REFERENCE_ROWS if name == "reference" else int(name.split("_")[1])


def write_report(results: dict[str, Any]) -> None:
    target = HERE / ("results/QUICK.md" if results.get("quick") else "RESULTS.md")
    target.write_text(report.render(results))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
