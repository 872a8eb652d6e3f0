"""Throughput of the spaCy text steps and the entity scores before and after fine-tuning (docs/nlp.md, Measured).

    .venv/bin/python benchmarks/nlp/spacy_steps.py [--rows 5000] [--json]

Texts and BIO data are generated here (seeded), as in tests/nlp/test_bio.py: nothing is downloaded. Wall-time
figures depend on what else runs on the machine; the rows per CPU second much less.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

TEMPLATES = ["{p} said {o} will open a new office in {c} next March, investing {n} million euros in the city.",
             "Invoice INV-{n} from {o}: total ${n},{n2}.50 due on {d} March 2025, payable in {c}.",
             "I really loved the new phone, the battery lasts {n} hours and the screen is great!",
             "{o} shares fell {n} percent on Tuesday after {p} warned about weak demand in {c}."]
NAMES = ["Tim Cook", "Angela Merkel", "Maria Garcia", "John Miller", "Sarah Taylor"]
ORGS = ["Apple", "Acme Corporation", "Microsoft", "Globex", "the World Bank"]
PLACES = ["London", "Berlin", "Paris", "New York", "Tokyo"]
STEPS = {
    "nlp_features (all labels, 8 POS)": {"nlp_features": {"column": "t"}},
    "extract (money, date, ORG, pattern)": {"extract": {"column": "t", "fields": {
        "amount": "money", "due": "date", "org": "ORG", "inv": {"pattern": r"INV-\d+"}}}},
    "extract (rules only)": {"extract": {"column": "t", "fields": {
        "amount": "money", "due": "date", "inv": {"pattern": r"INV-\d+"}}}},
}


def texts(rows: int) -> list[str]:
    r = random.Random(0)
    return [r.choice(TEMPLATES).format(p=r.choice(NAMES), o=r.choice(ORGS), c=r.choice(PLACES), n=r.randint(1, 999),
                                       n2=r.randint(100, 999), d=r.randint(1, 28)) for _ in range(rows)]


def bio(path: Path, sentences: int, seed: int, gadgets: slice = slice(None)) -> Path:
    """BIO data as the tests write it; ``gadgets``: which of their gadget names may appear."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bio_data", Path(__file__).parents[2] / "tests/nlp/test_bio.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.GADGETS = module.GADGETS[gadgets]
    return Path(module.write_bio(path, sentences, seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import pyarrow as pa
    from pydantic import TypeAdapter

    from aiforge.data import run_steps
    from aiforge.nlp import evaluate_ner, load_pipeline, train_ner
    from aiforge.spec import EtlStep

    load_pipeline()
    data = texts(args.rows)
    adapter = TypeAdapter(list[EtlStep])
    result: dict[str, object] = {"rows": len(data), "mean_words": round(sum(len(t.split()) for t in data) / len(data),
                                                                        1), "load_before": os.getloadavg()[0]}
    for name, step in STEPS.items():
        cpu, wall = time.process_time(), time.perf_counter()
        run_steps(pa.table({"t": data}), {}, adapter.validate_python([step]))
        result[name] = {"rows_per_s_wall": round(len(data) / (time.perf_counter() - wall)),
                        "rows_per_s_cpu": round(len(data) / (time.process_time() - cpu))}
    result["load_after"] = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        train, dev = bio(Path(folder) / "train.bio", 40, 1), bio(Path(folder) / "dev.bio", 20, 2)
        base = evaluate_ner(dev)
        tuned = train_ner(train, dev, Path(folder) / "model", epochs=12, patience=4, seed=0)
        # gadget names never seen in training: the 40 training sentences use 6 names, the dev sentences 4 others
        seen, unseen = bio(Path(folder) / "seen.bio", 40, 1, slice(0, 6)), bio(Path(folder) / "unseen.bio", 20, 2,
                                                                               slice(6, None))
        held_out = train_ner(seen, unseen, Path(folder) / "held_out", epochs=12, patience=4, seed=0)
    for name, scores in (("ner_base", base), ("ner_tuned", tuned.best_scores),
                         ("ner_unseen_base", held_out.base_scores), ("ner_unseen_tuned", held_out.best_scores)):
        result[name] = {"micro": vars(scores.micro), "macro": vars(scores.macro),
                        "per_label": {k: vars(v) for k, v in scores.per_label.items() if v.support}}
    result["ner_training"] = {"best_epoch": tuned.best_epoch, "epochs": len(tuned.epochs), "seconds": tuned.seconds}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
