"""Batch scoring on a Ray cluster (Ray Data): the file read in blocks by the cluster, each block scored in the
task that read it, by the model as it serves (``ModelRegistry.load_predictor``; its ONNX model, where ONNX
Runtime serves, makes its sessions again in each worker) sent once through the object store and kept by
each worker process, written in input order.

The rows scored and the columns written are those of ``aiforge.serve._batch.score_file`` (the same
``score_frame`` runs in every actor); only where the work runs differs. The output is one Parquet file
written by the driver, so every scored row passes through it: at the scale where that matters, write
shards on the workers instead (docs/scaling.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError
from aiforge.serve._batch import BatchResult, check_columns, score_frame, write_scored
from aiforge.workspace import Executor, connect_ray

if TYPE_CHECKING:
    import pyarrow as pa

    from aiforge.registry import ModelVersion

__all__ = ["score_file_on_ray"]


_MODELS: dict[str, Any] = {}  # per Ray worker process: the model of each object id, deserialised once


def _score_batch(batch: Any, model: Any, keep: list[str]) -> pa.Table:
    """A Ray Data task: score one block with the model, fetched from the object store once per worker process."""
    import ray

    if isinstance(model, ray.ObjectRef):
        key = model.hex()
        if key not in _MODELS:
            _MODELS.clear()
            _MODELS[key] = ray.get(model)
        model = _MODELS[key]
    return score_frame(model, batch, keep)


def score_file_on_ray(model: Any, version: ModelVersion, source: Path, output: Path, *, executor: Executor,
                      chunk_rows: int, keep: list[str],
                      on_chunk: Callable[[int, int], None] | None = None) -> BatchResult:
    """Score ``source`` (.parquet or .csv, a path every node can read) with ``model`` on the Ray cluster into
    ``output`` (.parquet, written only when complete)."""
    import pandas as pd

    if not source.exists():
        raise DataError(f"input file {source} does not exist", where=str(source))
    suffix = source.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise DataError(f"cannot read {source}: unknown file type '{source.suffix}'", where=str(source),
                        expected="a .parquet or .csv file")
    connect_ray(executor.address)
    import pyarrow.csv as csv
    import ray
    import ray.data

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the output keeps the input's row order
    context.enable_progress_bars = False
    if suffix == ".parquet":
        dataset = ray.data.read_parquet(str(source.absolute()))
    else:
        dataset = ray.data.read_csv(str(source.absolute()),
                                    convert_options=csv.ConvertOptions(strings_can_be_null=True))
    check_columns(pd.DataFrame(columns=dataset.schema().names), model.input_columns, keep, source)
    # tasks, not actors: Ray Data fuses each block's read with its scoring, and no idle actor holds a CPU
    # that a read would need
    scored = dataset.map_batches(_score_batch, fn_kwargs={"model": ray.put(model), "keep": keep},  # type: ignore[arg-type]
                                 batch_size=chunk_rows, batch_format="pandas", num_cpus=executor.cpus_per_task)
    started = time.perf_counter()
    # batch_format="pyarrow" gives tables (the stubs say batches of any format); empty blocks are passed over
    blocks: Iterator[pa.Table] = scored.iter_batches(batch_size=None, batch_format="pyarrow")  # type: ignore[assignment]
    rows, chunks = write_scored((table for table in blocks if table.num_rows), source, output, on_chunk)
    return BatchResult(version.name, version.version, rows, chunks, time.perf_counter() - started, str(output))
