"""Short labelled texts for the text learners' tests: two sentiments in a dozen phrases, a hashtag number each."""

from __future__ import annotations

import numpy as np
import pandas as pd

GOOD = ["i love this phone, it works great", "what a wonderful day at the beach", "so happy with the service",
        "amazing food and friendly people", "the best concert i have been to", "really nice work, thank you"]
BAD = ["i hate this phone, it broke again", "what a terrible day at the office", "so angry with the service",
       "awful food and rude people", "the worst concert i have been to", "really bad work, no thanks"]


def labelled_texts(rows: int, seed: int, *, noise: float = 0.0) -> pd.DataFrame:
    """``text``, a numeric ``score`` that carries nothing, and ``y`` (pos / neg), a ``noise`` share of it flipped."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, size=rows)
    text = [f"{rng.choice(GOOD if v else BAD)} #{rng.integers(500)}" for v in label]
    flipped = rng.random(rows) < noise if noise else np.zeros(rows, dtype=bool)
    return pd.DataFrame({"text": text, "score": rng.normal(size=rows),
                         "y": np.where((label == 1) ^ flipped, "pos", "neg")})
