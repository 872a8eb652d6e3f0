"""Batch scoring: a file of records in, the same rows with predictions out, streamed in chunks.

The input (Parquet or CSV) is read a chunk at a time and the output Parquet written a chunk at a
time, so a file larger than memory scores in bounded memory. Chunks are scored by a pool of threads
(LightGBM, NumPy and ONNX Runtime release the GIL), at most ``2 x threads`` in flight, and written in input
order, through the prediction path the version's registration chose (``ModelRegistry.load_predictor``);
or, with the ray executor (``AIFORGE_EXECUTOR=ray``), by Ray Data on a cluster.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.errors import AiforgeError, DataError
from aiforge.registry import ModelRegistry, ModelVersion
from aiforge.serve._models import served_version

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from aiforge.workspace import Executor

__all__ = ["BatchResult", "check_columns", "score_file", "score_frame", "scoring_version", "write_scored"]

DEFAULT_CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class BatchResult:
    name: str
    version: int
    rows: int
    chunks: int
    seconds: float
    output: str

    def to_json(self) -> dict[str, Any]:
        return {"model": self.name, "version": self.version, "rows": self.rows, "chunks": self.chunks,
                "seconds": round(self.seconds, 3), "rows_per_second": round(self.rows / max(self.seconds, 1e-9)),
                "output": self.output}


def scoring_version(registry: ModelRegistry, name: str, version: int | None) -> ModelVersion:
    """The version a batch is scored with: ``version``, else the one that would answer requests. A version
    rejected by its KPI gate never scores."""
    if version is not None:
        chosen = registry.get(name, version)
        if chosen.status.value != "accepted":
            failed = [r["message"] for r in chosen.gate.get("results", []) if not r["passed"]]
            raise AiforgeError(f"{name} v{version} failed its KPI gate and may not score data",
                               found="; ".join(failed) or "rejected", hint="score with an accepted version")
        return chosen
    chosen_or_none = served_version(registry.versions(name))
    if chosen_or_none is None:
        registry.latest(name)  # an unknown name raises with the known ones
        raise AiforgeError(f"model '{name}' has no accepted version to score with",
                           hint="run the project until a version passes its KPI gate")
    return chosen_or_none


def score_file(registry: ModelRegistry, version: ModelVersion, source: Path, output: Path, *,
               chunk_rows: int = DEFAULT_CHUNK_ROWS, keep: list[str] | None = None, threads: int | None = None,
               on_chunk: Callable[[int, int], None] | None = None, executor: Executor | None = None) -> BatchResult:
    """Score every row of ``source`` (.parquet or .csv) with ``version`` into ``output`` (.parquet): the
    ``keep`` columns as they are, then ``prediction`` and, for classification, ``probability_<class>``.
    ``on_chunk(rows_done, chunks_done)`` follows progress. The output appears only when complete
    (written to a temporary name, then renamed). With the ray ``executor``, Ray Data reads and scores the
    file on the cluster (aiforge.serve._ray_batch), to the same output."""
    if chunk_rows < 1:
        raise DataError("chunk_rows must be at least 1", found=str(chunk_rows))
    keep = list(keep or [])
    model = registry.load_predictor(version)  # the path its registration chose (ONNX Runtime or native)
    if executor is not None and executor.is_ray:
        from aiforge.serve._ray_batch import score_file_on_ray

        return score_file_on_ray(model, version, source, output, executor=executor, chunk_rows=chunk_rows,
                                 keep=keep, on_chunk=on_chunk)
    started = time.perf_counter()
    with closing(_scored_in_order(model, source, chunk_rows, keep, threads or os.cpu_count() or 1)) as tables:
        rows, chunks = write_scored(tables, source, output, on_chunk)
    return BatchResult(version.name, version.version, rows, chunks, time.perf_counter() - started, str(output))


def _scored_in_order(model: Any, source: Path, chunk_rows: int, keep: list[str],
                     workers: int) -> Generator[pa.Table, None, None]:
    """The chunks of ``source`` scored by a pool of ``workers`` threads, at most ``2 x workers`` in flight, in
    input order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[pa.Table]] = deque()
        for number, frame in enumerate(_chunks(source, chunk_rows)):
            if number == 0:
                check_columns(frame, model.input_columns, keep, source)
            pending.append(pool.submit(_score_whole, model, frame, keep))
            while len(pending) > 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _score_whole(model: Any, frame: pd.DataFrame, keep: list[str]) -> pa.Table:
    """``score_frame`` in a thread of the chunk pool: the pool spreads the chunks over the cores already."""
    from aiforge.learn import whole_batches

    with whole_batches():
        return score_frame(model, frame, keep)


def write_scored(tables: Iterable[pa.Table], source: Path, output: Path,
                 on_chunk: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """Write the scored ``tables`` of ``source``, in order, into the Parquet file ``output``, which appears only
    when complete (written to a temporary name, then renamed); the rows and chunks written.
    ``on_chunk(rows_done, chunks_done)`` follows progress. No rows at all is a ``DataError``."""
    import pyarrow.parquet as pq

    tmp = output.with_name(f".{output.name}.partial")
    rows = chunks = 0
    writer: pq.ParquetWriter | None = None
    try:
        for table in tables:
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
            rows, chunks = rows + table.num_rows, chunks + 1
            if on_chunk is not None:
                on_chunk(rows, chunks)
        if writer is None:
            raise DataError(f"{source} holds no rows to score", where=str(source), hint="pass a file with rows")
        writer.close()
        writer = None
        os.replace(tmp, output)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return rows, chunks


def _chunks(source: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow.csv as csv
    import pyarrow.parquet as pq

    if not source.exists():
        raise DataError(f"input file {source} does not exist", where=str(source))
    suffix = source.suffix.lower()
    if suffix == ".parquet":
        for batch in pq.ParquetFile(source).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    elif suffix == ".csv":
        reader = csv.open_csv(source, read_options=csv.ReadOptions(block_size=1 << 22),
                              convert_options=csv.ConvertOptions(strings_can_be_null=True))
        buffered: list[Any] = []
        count = 0
        for batch in reader:
            buffered.append(batch)
            count += batch.num_rows
            if count >= chunk_rows:
                yield from _split(buffered, chunk_rows)
                buffered, count = [], 0
        if buffered:
            yield from _split(buffered, chunk_rows)
    else:
        raise DataError(f"cannot read {source}: unknown file type '{source.suffix}'", where=str(source),
                        expected="a .parquet or .csv file")


def _split(batches: list[Any], chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa

    table = pa.Table.from_batches(batches)
    for start in range(0, table.num_rows, chunk_rows):
        yield table.slice(start, chunk_rows).to_pandas()


def check_columns(frame: pd.DataFrame, needed: list[str], keep: list[str], source: Path | str) -> None:
    """Every input column of the model (``needed``) and every ``keep`` column must be in ``frame``, read from
    ``source`` (a file, or words naming the records)."""
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(f"{source} lacks {len(missing)} input column(s) of the model", where=str(source),
                        expected=f"every column of: {', '.join(needed)}", found=f"missing {', '.join(missing)}",
                        hint="score records with the columns the model was trained on")
    absent = [c for c in keep if c not in frame.columns]
    if absent:
        raise DataError(f"--keep names column(s) that {source} does not have: {', '.join(absent)}",
                        where=str(source), expected=f"some of: {', '.join(map(str, frame.columns[:30]))}")


def score_frame(model: Any, frame: pd.DataFrame, keep: list[str]) -> pa.Table:
    """The ``keep`` columns of ``frame``, then ``prediction`` and, for classification, ``probability_<class>``."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    out = pd.DataFrame({c: frame[c] for c in keep})
    if model.task.is_classification:
        proba = model.predict_proba(frame)
        if model.task.value == "binary":
            labels = np.asarray(model.classes, dtype=object)[(proba[:, 1] >= model.threshold).astype(int)]
        else:
            labels = np.asarray(model.classes, dtype=object)[proba.argmax(axis=1)]
        out["prediction"] = [str(label) for label in labels]
        for i, label in enumerate(model.classes):
            out[f"probability_{label}"] = proba[:, i]
    elif model.task.is_generation:
        out["prediction"] = [str(text) for text in model.predict(frame)]
    else:
        out["prediction"] = np.asarray(model.raw_output(frame), dtype=float)
    return pa.Table.from_pandas(out, preserve_index=False)
