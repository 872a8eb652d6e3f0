"""Training throughput (images per second) of aiforge's image networks, on the CPU and, where there is one, on
a CUDA GPU: the same estimators and training loop, the device chosen by ``aiforge.deep``'s runtime
(``device="auto"`` takes CUDA when torch sees a GPU, with mixed precision; ``"cpu"`` forces the CPU).

Each model trains ``--epochs`` epochs (no validation, no early stopping) on Fashion-MNIST training images (Debian's
dataset-fashion-mnist: ``make fashion-data``); the first epoch warms up (kernel choice, cuDNN autotuning, caches),
so throughput is images / seconds over the epochs after it, from the loop's own epoch timings. Models:
``cnn``, the ``cnn`` learner's known-good network (16 then 32 channels, batch 128) on 28x28 images; ``cnn-wide``
(32-64 channels); ``efficientnet-lite0``, the transfer model on EfficientNet-Lite0's ImageNet weights (images
resized to 96x96, frozen backbone, and the whole network unfrozen). Writes ``benchmarks/deep/RESULTS.md`` (a run that
measured a GPU) or ``benchmarks/deep/RESULTS-cpu.md`` (one without) with the
machine, the versions and the load average before and after.

    .venv/bin/python benchmarks/deep/throughput.py            # CPU (+ CUDA when present); a few minutes on 2 cores
    .venv/bin/python benchmarks/deep/throughput.py --devices cuda --scale 20   # a GPU: 20x the images
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from aiforge.deep import CNNClassifier, choose_device, load_fashion_mnist  # noqa: E402

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Model:
    name: str
    images: int  # on the CPU; --scale multiplies it (a GPU needs more to be timed well)
    build: Any  # (device) -> an unfitted estimator


def _cnn(channels: int) -> Any:
    return lambda device: CNNClassifier(channels=channels, blocks=2, batch_size=128, max_epochs=0, lr=3e-3,
                                        validation_fraction=0.0, patience=None, device=device, random_state=0)


def _transfer(unfreeze: int | str) -> Any:
    def build(device: str) -> Any:
        from aiforge.deep import TransferClassifier

        return TransferClassifier(image_size=96, unfreeze=unfreeze, batch_size=64, max_epochs=0, lr=3e-3,
                                  validation_fraction=0.0, patience=None, device=device, random_state=0)
    return build


MODELS = [
    Model("cnn (16-32 channels, 28x28)", 6144, _cnn(16)),
    Model("cnn-wide (32-64 channels, 28x28)", 3072, _cnn(32)),
    Model("efficientnet-lite0, frozen backbone (96x96)", 512, _transfer(0)),
    Model("efficientnet-lite0, all layers (96x96)", 256, _transfer("all")),
]


def _transfer_available() -> bool:
    try:
        from aiforge.deep import TransferClassifier  # noqa: F401
    except (ImportError, AttributeError):
        return False
    return True


def measure(model: Model, device: str, epochs: int, scale: float, images: np.ndarray,
            labels: np.ndarray) -> dict[str, Any]:
    n = min(len(images), max(64, int(model.images * scale)))
    estimator = model.build(device).set_params(max_epochs=epochs)
    started = time.perf_counter()
    estimator.fit(images[:n], labels[:n])
    wall = time.perf_counter() - started
    records = estimator.history_.epochs
    timed = records[1:] if len(records) > 1 else records
    seconds = sum(r.seconds for r in timed)
    return {"model": model.name, "device": estimator.device_, "images": n, "epochs": len(records),
            "images_per_s": n * len(timed) / seconds, "first_epoch_images_per_s": n / records[0].seconds,
            "wall_s": wall, "batch": estimator.batch_size}


def machine() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines = [f"CPU: {cpu}, {os.cpu_count()} cores (torch threads: {torch.get_num_threads()})",
             f"Python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
             f"{platform.system()} {platform.release()}"]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        lines.append(f"GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}, "
                     f"cuDNN {torch.backends.cudnn.version()}")
    else:
        lines.append("GPU: none (torch.cuda.is_available() is False)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="cpu,auto", help="comma-separated: cpu, auto (CUDA when present; "
                        "skipped when it would be the CPU again), cuda")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per model; the first one is not timed")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply each model's number of images")
    parser.add_argument("--models", default="", help="comma-separated name prefixes (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="default: RESULTS.md when a GPU is measured, "
                        "else RESULTS-cpu.md (beside this script)")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is a warm-up")
    devices = []
    for name in args.devices.split(","):
        chosen = str(choose_device(name.strip()))
        if chosen.split(":")[0] not in {str(d).split(":")[0] for d in devices}:
            devices.append(chosen)
    models = [m for m in MODELS if not args.models or any(m.name.startswith(p) for p in args.models.split(","))]
    skipped = []
    if not _transfer_available():
        skipped.append("efficientnet-lite0: aiforge.deep.TransferClassifier is not there")
        models = [m for m in models if not m.name.startswith("efficientnet")]
    train = load_fashion_mnist("train")
    order = np.random.default_rng(0).permutation(len(train.images))
    images, labels = train.images[order], train.labels[order]
    load_before = os.getloadavg()
    started = dt.datetime.now(dt.UTC)
    results = []
    for device in devices:
        for model in models:
            result = measure(model, device, args.epochs, args.scale, images, labels)
            results.append(result)
            print(f"{result['model']:<48} {result['device']:<6} {result['images_per_s']:8.1f} images/s "
                  f"({result['images']} images, wall {result['wall_s']:.1f} s)", flush=True)
    load_after = os.getloadavg()
    out = args.out or HERE / ("RESULTS.md" if any(d.startswith("cuda") for d in devices) else "RESULTS-cpu.md")
    write(out, results, devices, started, load_before, load_after, args, skipped)
    print(f"wrote {out}")


def write(out: Path, results: list[dict[str, Any]], devices: list[str], started: dt.datetime,
          load_before: tuple[float, ...], load_after: tuple[float, ...], args: argparse.Namespace,
          skipped: list[str]) -> None:
    by = {(r["model"], r["device"].split(":")[0]): r for r in results}
    names = list(dict.fromkeys(r["model"] for r in results))
    has_cuda = any(d.startswith("cuda") for d in devices)
    lines = [
        "# Training throughput of the image networks (images/s)", "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC by `" + " ".join([".venv/bin/python benchmarks/deep/throughput.py",
                                                                *sys.argv[1:]]) + "`", "",
        *[f"- {line}" for line in machine()],
        f"- Load average (1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in load_before)}; after: "
        f"{', '.join(f'{v:.2f}' for v in load_after)}",
        f"- {args.epochs} epochs per model, the first not timed; images/s = images x timed epochs / their seconds "
        "(the training loop's epoch timings: forward, backward, optimiser step, host-to-device copies)", "",
        "| model | CPU images/s | CPU, first epoch | CUDA images/s | CUDA, first epoch | images per epoch (CPU / CUDA) "
        "| batch |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for name in names:
        cpu, cuda = by.get((name, "cpu")), by.get((name, "cuda"))
        missing = "not run" if has_cuda else "not measured (no GPU)"
        cells = []
        for result, absent in ((cpu, "not run"), (cuda, missing)):
            cells += ([f"{result['images_per_s']:,.1f}", f"{result['first_epoch_images_per_s']:,.1f}"] if result
                      else [absent, absent])
        counts = f"{cpu['images'] if cpu else '-'} / {cuda['images'] if cuda else '-'}"
        batch = (cpu or cuda or {}).get("batch", "")
        lines.append(f"| {name} | {' | '.join(cells)} | {counts} | {batch} |")
    lines += ["", "A frozen backbone's features are computed in the first epoch and cached by the transfer estimator "
              "(`aiforge.deep._backbones`): the epochs after it train the head alone, hence the two columns."]
    if skipped:
        lines += ["", *[f"Not measured: {s}." for s in skipped]]
    if not has_cuda:
        lines += ["", "**The CUDA column is not measured**: this machine has no GPU. On one, the same command runs "
                  "each model on the CPU and then on the GPU (`device=\"auto\"` picks CUDA and bfloat16/float16 "
                  "autocast); `--devices cuda --scale 20` times the GPU alone on 20 times the images. "
                  "`RESULTS.md` and `RESULTS-H100-scale20.md` hold such runs on an H100 machine, and `CUDA.md` "
                  "the accuracy of each torch learner on its CPU and its GPU (`cuda_check.py`)."]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
