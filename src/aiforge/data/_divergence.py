"""How far apart two distributions over the same bins (or categories) are: the population stability index and
the Jensen–Shannon distance. ``aiforge data diff`` compares two snapshots with them, drift monitoring a window with
a version's reference."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["PSI_EPSILON", "jensen_shannon", "psi"]

PSI_EPSILON = 1e-4  # the share an empty bin counts for in PSI (else its logarithm is infinite)


def psi(p: np.ndarray, q: np.ndarray) -> float:
    """The population stability index of ``q`` against ``p`` (shares per bin): 0 same, 0.1 a shift worth a look,
    0.25 a large one."""
    import numpy as np

    a, b = np.clip(p, PSI_EPSILON, None), np.clip(q, PSI_EPSILON, None)
    return float(np.sum((b - a) * np.log(b / a)))


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """The Jensen–Shannon distance (the square root of the divergence), base 2: 0 same, 1 disjoint; 0 when either
    side has no mass at all (nothing to compare)."""
    import numpy as np

    if not p.sum() or not q.sum():
        return 0.0
    mid = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / mid), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / mid), 0.0).sum()
    return float(math.sqrt(max(0.0, (kl_p + kl_q) / 2)))
