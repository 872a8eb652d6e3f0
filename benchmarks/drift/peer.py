"""Evidently's side of the drift benchmark: runs in ``.venv-evidently`` (Evidently 0.7 needs pandas < 3).

    .venv-evidently/bin/python peer.py REFERENCE.parquet CURRENT.parquet

Reads both Parquet files into pandas (timed apart), runs Evidently's ``DataDriftPreset`` report with the
columns declared numerical or categorical as the generator made them (so no column is guessed wrong), and
prints one JSON object: the timings, the peak resident memory of this process, and per column Evidently's
method, threshold, score and decision (score >= threshold, Evidently's rule for its distance methods;
p-value < threshold for its tests, which it picks only for references of 1,000 rows or fewer).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's usage telemetry: off (and there is no network here)

sys.path.insert(0, str(Path(__file__).resolve().parent))


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: not ru_maxrss, which Linux carries over from the parent
    across fork and exec, so a child would report at least its parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    reference_path, current_path = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    import dataset
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    imported = time.perf_counter()
    rss_imported = peak_rss_mb()
    reference = pd.read_parquet(reference_path)
    read_reference = time.perf_counter()
    current = pd.read_parquet(current_path)
    read_current = time.perf_counter()
    cols = dataset.columns()
    definition = DataDefinition(numerical_columns=[c.name for c in cols if not c.categorical],
                                categorical_columns=[c.name for c in cols if c.categorical])
    report_started, cpu = time.perf_counter(), time.process_time()
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition))
    result = snapshot.dict()
    report_done, cpu = time.perf_counter(), time.process_time() - cpu

    columns: dict[str, dict[str, object]] = {}
    count = None
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            count = metric["value"]
        elif config["type"].endswith("ValueDrift"):
            method, threshold, score = config["method"], float(config["threshold"]), float(metric["value"])
            is_test = "p_value" in method.lower() or "test" in method.lower()
            columns[config["column"]] = {"method": method, "threshold": threshold, "score": score,
                                         "drifted": score < threshold if is_test else score >= threshold}
    print(json.dumps({
        "rows": len(current), "reference_rows": len(reference),
        "import_s": imported - started, "read_reference_s": read_reference - imported,
        "read_current_s": read_current - read_reference, "report_s": report_done - report_started, "cpu_s": cpu,
        "peak_rss_mb": peak_rss_mb(), "rss_after_import_mb": rss_imported,
        "drifted_count": count, "columns": columns,
    }))


if __name__ == "__main__":
    main()
