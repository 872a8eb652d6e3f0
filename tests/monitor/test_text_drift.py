"""Drift of free-text columns: length, out-of-vocabulary share, and the TF-IDF/SVD embedding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from aiforge.data import ReferenceProfile, TextReference
from aiforge.monitor import WindowCounts, detect_drift, detect_drift_in_parquet

SPORT = ["match", "goal", "team", "coach", "league", "season", "referee", "striker", "fans", "stadium"]
TRAVEL = ["flight", "delay", "airport", "crew", "seat", "luggage", "gate", "pilot", "ticket", "lounge"]
COMMON = ["the", "a", "was", "today", "really", "so", "and", "not", "very", "our"]


def texts(n: int, topic: list[str], seed: int, words: int = 12, invented: float = 0.0) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length = int(rng.integers(max(2, words - 4), words + 5))
        chosen = list(rng.choice(topic, length // 2)) + list(rng.choice(COMMON, length - length // 2))
        if invented and rng.random() < invented:
            chosen += [f"zz{seed}w{i}x{j}" for j in range(6)]  # words no training text holds
        rng.shuffle(chosen)
        out.append(" ".join(chosen))
    return out


def reference(n: int = 3000) -> ReferenceProfile:
    frame = pd.DataFrame({"text": texts(n // 2, SPORT, 0) + texts(n // 2, TRAVEL, 1), "n": np.arange(n) % 7})
    return ReferenceProfile.build(frame, categorical=[], text=["text"])


def by_name(report: object) -> dict[str, object]:
    return {c.name: c for c in report.columns}  # type: ignore[attr-defined]


def test_text_reference_round_trips_through_json() -> None:
    ref = reference()
    column = ref.columns["text"]
    assert isinstance(column, TextReference) and column.kind == "text"
    assert len(column.components) == 5 and column.embedding is not None and 20 <= len(column.vocabulary) <= 40
    again = ReferenceProfile.from_json(json.loads(json.dumps(ref.to_json())))
    assert again.columns["text"] == column


def test_unchanged_text_does_not_drift_and_changed_text_does() -> None:
    ref = reference()
    same = pd.DataFrame({"text": texts(500, SPORT, 5) + texts(500, TRAVEL, 6), "n": np.arange(1000) % 7})
    report = detect_drift(ref, same)
    assert report.drifted == []
    names = ["text[length]", "text[out-of-vocabulary]", *(f"text[embedding {i}]" for i in range(1, 6)), "n"]
    assert [c.name for c in report.columns] == names
    assert {c.kind for c in report.columns[:-1]} == {"text"}

    only_sport = detect_drift(ref, pd.DataFrame({"text": texts(1000, SPORT, 7), "n": np.arange(1000) % 7}))
    assert any(name.startswith("text[embedding") for name in only_sport.drifted)  # the topic mix moved
    assert "text[length]" not in only_sport.drifted and "n" not in only_sport.drifted

    shorter = detect_drift(ref, pd.DataFrame({"text": texts(1000, TRAVEL, 8, words=4), "n": np.arange(1000) % 7}))
    assert "text[length]" in shorter.drifted

    novel = detect_drift(ref, pd.DataFrame({"text": texts(1000, SPORT + TRAVEL, 9, invented=0.9),
                                            "n": np.arange(1000) % 7}))
    oov = by_name(novel)["text[out-of-vocabulary]"]
    assert "text[out-of-vocabulary]" in novel.drifted
    assert oov.unseen_share > 0.1 and oov.histogram["oov_rate_reference"] < 0.01  # type: ignore[attr-defined]


def test_text_windows_count_in_parts_and_from_parquet(tmp_path: Path) -> None:
    ref = reference()
    window = pd.DataFrame({"text": texts(400, TRAVEL, 3) + [None] * 10, "n": np.arange(410) % 7})
    whole = detect_drift(ref, window)
    left, right = WindowCounts(ref), WindowCounts(ref)
    left.add(window.iloc[:200])
    right.add(pa.Table.from_pandas(window.iloc[200:]))
    left.merge(right)
    assert [c.to_json() for c in left.report().columns] == [c.to_json() for c in whole.columns]
    assert by_name(whole)["text[length]"].missing_window == round(10 / 410, 6)  # type: ignore[attr-defined]
    pq.write_table(pa.Table.from_pandas(window), tmp_path / "w.parquet")
    from_file = detect_drift_in_parquet(ref, tmp_path / "w.parquet")
    assert [c.effect for c in from_file.columns] == [c.effect for c in whole.columns]
