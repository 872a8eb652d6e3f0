"""Detection on a generated stream with a known drift point (river's ``ConceptDriftStream``, as in
benchmarks/drift/detection.py): aiforge's input drift check catches a covariate drift within one window
and raises no alarm on the windows before it."""

from __future__ import annotations

import itertools

import pandas as pd
from river.datasets import synth

from aiforge.data import ReferenceProfile
from aiforge.monitor import detect_drift

REFERENCE_ROWS = 4_000
WINDOW = 1_000
DRIFT_START = 8_000  # the first row that may come from the new generator
WIDTH = 100  # river's sigmoid overflows for rows more than 177 widths before its centre: not 1
ROWS = 12_000
SEED = 1


def _stream() -> pd.DataFrame:
    """RandomRBF whose centroids move to a new random set at DRIFT_START: every input's distribution changes."""
    stream = synth.ConceptDriftStream(
        stream=synth.RandomRBF(seed_model=1, seed_sample=SEED),
        drift_stream=synth.RandomRBF(seed_model=2, seed_sample=SEED + 100),
        position=DRIFT_START + WIDTH // 2, width=WIDTH, seed=SEED,
    )
    rows = [x for x, _ in itertools.islice(stream, ROWS)]
    return pd.DataFrame(rows).rename(columns=lambda c: f"x{c}")


def test_a_covariate_drift_is_caught_within_one_window_and_not_before() -> None:
    frame = _stream()
    reference = ReferenceProfile.build(frame.iloc[:REFERENCE_ROWS], categorical=[])
    alarms = {}
    for start in range(REFERENCE_ROWS, ROWS, WINDOW):
        report = detect_drift(reference, frame.iloc[start:start + WINDOW], threads=1)
        alarms[start] = report.share_drifted

    before = {start: share for start, share in alarms.items() if start + WINDOW <= DRIFT_START}
    after = {start: share for start, share in alarms.items() if start >= DRIFT_START}
    assert len(before) == 4 and len(after) == 4
    assert all(share == 0 for share in before.values()), before  # no false alarm on the first concept
    first = min(start + WINDOW for start, share in alarms.items() if share > 0)
    assert first - DRIFT_START <= WINDOW  # caught by the end of the first window after the drift
    assert all(share >= 0.8 for share in after.values()), after  # and every later window, on most columns
