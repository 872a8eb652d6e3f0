"""The artifact store's put / get / exists per blob: the local folder against S3 (moto's server on this machine, so
the figures are the client's overhead — s3fs, aiobotocore, HTTP, hashing — not a network's). Medians of a few
blobs of random bytes per size; the S3 get is timed with the local read cache emptied, then with it filled.
Writes ``RESULTS.md`` beside this script.

    .venv/bin/python benchmarks/storage/latency.py            # needs the dev extra (moto[server], s3fs)
    .venv/bin/python benchmarks/storage/latency.py --results /tmp/storage.md
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiforge.workspace import ArtifactStore

HERE = Path(__file__).resolve().parent
SIZES = (10_000, 1_000_000, 50_000_000)


def _ms(fn: Callable[[Any], Any], arg: Any, out: list[Any] | None = None) -> float:
    started = time.perf_counter()
    result = fn(arg)
    elapsed = (time.perf_counter() - started) * 1000
    if out is not None:
        out.append(result)
    return elapsed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _timed(store: ArtifactStore, blobs: list[bytes], cache: Path) -> dict[str, float]:
    """Median milliseconds of put, get (the read cache emptied first), get again (cached) and exists."""
    digests: list[str] = []
    puts = [_ms(store.put_bytes, blob, digests) for blob in blobs]
    shutil.rmtree(cache, ignore_errors=True)
    gets = [_ms(store.get_bytes, digest) for digest in digests]
    cached = [_ms(store.get_bytes, digest) for digest in digests]
    exists = [_ms(store.exists, digest) for digest in digests]
    return {"put": statistics.median(puts), "get": statistics.median(gets), "cached": statistics.median(cached),
            "exists": statistics.median(exists)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--blobs", type=int, default=5, help="blobs per size (2 for the largest)")
    args = parser.parse_args()
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION":
                       "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
    import boto3

    from aiforge.workspace import ArtifactStore

    folder = Path(tempfile.mkdtemp(prefix="aiforge-storage-bench-"))
    port = _free_port()
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    server = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    rows = []
    load = [os.getloadavg()[0]]
    try:
        client = boto3.client("s3", endpoint_url=endpoint)
        for _ in range(100):
            try:
                bucket = f"bench-{uuid.uuid4().hex[:12]}"
                client.create_bucket(Bucket=bucket)
                break
            except Exception:  # not listening yet
                time.sleep(0.1)
        stores = {"local": ArtifactStore(folder / "local"),
                  "s3": ArtifactStore.at(f"s3://{bucket}/a", options={"endpoint_url": endpoint},
                                         cache=folder / "cache")}
        for size in SIZES:
            count = args.blobs if size < 10_000_000 else 2
            row: dict[str, float] = {}
            for name, store in stores.items():
                timed = _timed(store, [os.urandom(size) for _ in range(count)], folder / "cache")
                row |= {f"{name} {what}": ms for what, ms in timed.items()}
            rows.append((size, row))
            load.append(os.getloadavg()[0])
    finally:
        server.terminate()
        server.wait(timeout=15)
        shutil.rmtree(folder, ignore_errors=True)

    def fmt(ms: float) -> str:
        return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"

    import fsspec
    import s3fs

    lines = ["# Artifact store latency: local folder vs S3 (moto_server on the same machine)", "",
             f"`.venv/bin/python benchmarks/storage/latency.py` on {platform.node() or 'this machine'}"
             f" ({os.cpu_count()} CPUs, load {min(load):.1f}-{max(load):.1f}), "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; s3fs {s3fs.__version__}, fsspec "
             f"{fsspec.__version__}. Medians of {args.blobs} blobs (2 of 50 MB) of random bytes.", "",
             "| blob | local put | S3 put | local get | S3 get (not cached) | S3 get (cached) | S3 exists (HEAD) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for size, row in rows:
        lines.append(f"| {size:,} B | {fmt(row['local put'])} | {fmt(row['s3 put'])} | {fmt(row['local get'])} | "
                     f"{fmt(row['s3 get'])} | {fmt(row['s3 cached'])} | {fmt(row['s3 exists'])} |")
    lines += ["", "moto answers from memory on the same host: add the service's time to first byte and the network's "
              "bandwidth for a real bucket (docs/storage.md)."]
    args.results.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
