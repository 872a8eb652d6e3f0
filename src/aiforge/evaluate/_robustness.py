"""Evasion robustness: can a small, plausible change of a row's inputs change the model's decision?

Two black-box attacks (they only query the model) on correctly classified held-out rows:

- bounded perturbation: each numeric input may move within +-epsilon training standard deviations
  (inside the training range; integer columns stay integers) and up to ``flips`` categorical inputs may
  take another value seen in training. A score-based search: random candidates, then greedy coordinate
  steps that lower the model's probability margin, within ``perturbation_queries`` queries per row.
- HopSkipJump (Chen, Jordan & Wainwright 2020), decision-based, L-inf, on the numeric inputs in
  standardised units with the categorical inputs held fixed: from a training row of another class, binary
  search to the decision boundary, estimate the boundary's normal from the signs of queries around it,
  take a geometric step along it, repeat. Integer columns are treated as continuous (a relaxation).

When the model is a torch network (the ``mlp`` learner), the white-box FGSM and PGD attacks on its input
gradient run on the same rows within the same box (``_gradient_attacks.py``).

Candidates are built as DataFrames of raw inputs and scored in one ``raw_output`` call per step, which is
far faster than querying row by row. Regression: the perturbation search measures how far the prediction
can move instead (``perturbation_sensitivity``); HopSkipJump, a decision attack, does not apply.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiforge.evaluate._checks import CheckContext, CheckMetric, CheckResult, check
from aiforge.evaluate._gradient_attacks import GRADIENT_METRICS, gradient_attacks
from aiforge.spec import RobustnessCheck, TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from aiforge.learn import FeatureSet, TabularModel

__all__ = ["hop_skip_jump", "robustness"]

_RANDOM_SHARE = 0.3  # of the perturbation budget, spent on random candidates before the greedy steps
_CHUNK = 50_000  # candidate rows per model call, and per HopSkipJump gradient batch
_EXAMPLES = 3  # successful attacks shown per attack in details
_POOL_ROWS = 1000  # training rows HopSkipJump may start from
_START_CANDIDATES = 10  # nearest training rows of another class tried as a start, per attacked row
_RANDOM_STARTS = 20  # random points in the box tried when no training row gives a start
_FRACTIONS = (1.0, 0.3, 0.1, 0.01)  # of the way to a bound, the numeric values a greedy step tries
_GEOMETRIC_TRIES = 12  # halvings of HopSkipJump's step before it gives up a step
_BISECTION_TOL = 1e-3  # relative precision of HopSkipJump's binary search to the boundary

_HINT = ("make the decision less sensitive to small input changes: fewer or coarser features (bin the columns "
         "the attack moves most, details.columns_moved), monotone constraints, a larger min_child_samples or "
         "stronger regularisation, or adversarial training (add perturbed copies of training rows)")

METRICS = [
    CheckMetric("perturbation_success_rate", "robustness", False,
                "Share of attacked (correctly classified) test rows whose decision a bounded perturbation changed: "
                "numeric inputs within +-epsilon training standard deviations, at most `flips` categorical inputs "
                "changed to values seen in training.", hint=_HINT),
    CheckMetric("accuracy_under_perturbation", "robustness", True,
                "Test accuracy when every correctly classified row that the perturbation search flips counts as "
                "wrong: accuracy x (1 - perturbation_success_rate); exact when every correct row was attacked, "
                "estimated from the attacked sample (max_rows) otherwise.", hint=_HINT),
    CheckMetric("attack_success_rate", "robustness", False,
                "HopSkipJump (decision-based, L-inf, numeric inputs in standard deviations, categoricals fixed): "
                "share of attacked rows for which an adversarial example within epsilon was found within "
                "max_queries.", hint=_HINT),
    CheckMetric("accuracy_under_attack", "robustness", True,
                "Test accuracy when every correctly classified row that HopSkipJump breaks within epsilon counts "
                "as wrong: accuracy x (1 - attack_success_rate).", hint=_HINT),
    CheckMetric("perturbation_sensitivity", "robustness", False,
                "Regression: median over attacked test rows of the largest change of the prediction a bounded "
                "perturbation found, in standard deviations of the training target.", hint=_HINT),
    *GRADIENT_METRICS,
]


@dataclass(frozen=True)
class _Domain:
    """Where an attacker may move each input, learnt from the training split."""

    numeric: list[str]
    categorical: list[str]
    mean: np.ndarray
    sd: np.ndarray
    low: np.ndarray  # training minimum
    high: np.ndarray  # training maximum
    integer: np.ndarray  # bool per numeric column
    levels: list[np.ndarray]  # per categorical column: the commonest values seen in training

    @classmethod
    def learn(cls, train: pd.DataFrame, features: FeatureSet, max_levels: int) -> _Domain:
        import numpy as np
        import pandas as pd

        values = _numbers(train, features.numeric)
        seen = ~np.isnan(values)
        with np.errstate(all="ignore"):
            mean = np.array([values[seen[:, j], j].mean() if seen[:, j].any() else 0.0
                             for j in range(values.shape[1])])
            sd = np.array([values[seen[:, j], j].std() if seen[:, j].any() else 0.0
                           for j in range(values.shape[1])])
            low = np.array([values[seen[:, j], j].min() if seen[:, j].any() else 0.0
                            for j in range(values.shape[1])])
            high = np.array([values[seen[:, j], j].max() if seen[:, j].any() else 0.0
                             for j in range(values.shape[1])])
        integer = np.array([pd.api.types.is_integer_dtype(train[c].dtype)
                            or bool(np.all(np.mod(values[seen[:, j], j], 1) == 0))
                            for j, c in enumerate(features.numeric)], dtype=bool)
        levels = [train[c].dropna().value_counts().index.to_numpy(dtype=object)[:max_levels]
                  for c in features.categorical]
        return cls(list(features.numeric), list(features.categorical), mean, np.nan_to_num(sd), low, high,
                   integer, levels)

    def bounds(self, x: np.ndarray, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the range each numeric input may take: +-epsilon sd, inside the training range (widened
        to hold the row's own value); NaN where the value is missing (it stays missing)."""
        import numpy as np

        lo = np.minimum(np.maximum(x - epsilon * self.sd, self.low), x)
        hi = np.maximum(np.minimum(x + epsilon * self.sd, self.high), x)
        lo = np.where(self.integer, np.ceil(lo - 1e-9), lo)
        hi = np.where(self.integer, np.floor(hi + 1e-9), hi)
        return lo, hi


class _Queries:
    """The model seen by an attacker: candidate rows in, decisions and margins out, one call per batch."""

    def __init__(self, model: TabularModel, domain: _Domain, rows: pd.DataFrame) -> None:
        self.model = model
        self.domain = domain
        self.numeric = _numbers(rows, domain.numeric)
        self.categorical = [rows[c].to_numpy(dtype=object) for c in domain.categorical]
        # inputs the model reads besides its features (a fairness post-processor's attribute): never attacked
        self.fixed = {c: rows[c].to_numpy(dtype=object) for c in model.input_columns
                      if c not in domain.numeric and c not in domain.categorical}
        self.threshold = float(getattr(model, "threshold", 0.5))
        self.calls = 0

    def frame(self, owner: np.ndarray, numeric: np.ndarray, codes: np.ndarray | None = None) -> pd.DataFrame:
        """Rows of raw inputs: ``numeric`` values, and for categorical column j the attacked row's value, or
        ``levels[j][codes[:, j]]`` where that code is >= 0."""
        import pandas as pd

        columns: dict[str, Any] = {c: numeric[:, j] for j, c in enumerate(self.domain.numeric)}
        for j, c in enumerate(self.domain.categorical):
            values = self.categorical[j][owner]
            if codes is not None:
                changed = codes[:, j] >= 0
                if changed.any():
                    values = values.copy()
                    values[changed] = self.domain.levels[j][codes[changed, j]]
            columns[c] = values
        for c, values in self.fixed.items():
            columns[c] = values[owner]
        return pd.DataFrame(columns)[self.model.input_columns]

    def output(self, frame: pd.DataFrame) -> np.ndarray:
        import numpy as np

        self.calls += 1
        parts = [np.asarray(self.model.raw_output(frame.iloc[i: i + _CHUNK]))
                 for i in range(0, len(frame), _CHUNK)]
        return np.concatenate(parts) if parts else np.asarray(self.model.raw_output(frame))

    def decisions(self, out: np.ndarray) -> np.ndarray:
        import numpy as np

        if self.model.task is TaskKind.BINARY:
            return (out[:, 1] >= self.threshold).astype(int)
        return np.asarray(np.argmax(out, axis=1), dtype=int)

    def margin(self, out: np.ndarray, label: np.ndarray) -> np.ndarray:
        """How far the output is from leaving ``label`` (below zero: it left; for ranking only)."""
        import numpy as np

        if self.model.task is TaskKind.BINARY:
            return np.where(label == 1, out[:, 1] - self.threshold, self.threshold - out[:, 1])
        own = out[np.arange(len(out)), label]
        other = out.copy()
        other[np.arange(len(out)), label] = -np.inf
        return np.asarray(own - other.max(axis=1))


@dataclass
class _Search:
    """The best candidate found per attacked row."""

    numeric: np.ndarray
    codes: np.ndarray  # -1: the row's own value
    score: np.ndarray  # lower is better for the attacker
    success: np.ndarray
    queries: np.ndarray
    original: np.ndarray  # the rows' own numeric values


def _perturbation_search(queries: _Queries, labels: np.ndarray | None, epsilon: float, flips: int, budget: int,
                         rng: np.random.Generator) -> _Search:
    """Random candidates, then greedy coordinate steps from the best one, per row, within ``budget`` queries.

    Classification (``labels`` given): the score is the decision margin of the true label, success is a
    changed decision. Regression (``labels`` None): the score is minus the change of the prediction.
    """
    import numpy as np

    domain = queries.domain
    x = queries.numeric
    n, d, k = len(x), len(domain.numeric), len(domain.categorical)
    lo, hi = domain.bounds(x, epsilon)
    reference = None if labels is not None else queries.output(queries.frame(np.arange(n), x))
    original = np.array([[_level_index(domain.levels[j], v) for j, v in enumerate(col)]
                         for col in zip(*queries.categorical, strict=True)], dtype=int).reshape(n, k)

    def score(owner: np.ndarray, numeric: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = queries.output(queries.frame(owner, numeric, codes))
        if labels is None:
            assert reference is not None
            return -np.abs(out - reference[owner]), np.zeros(len(owner), dtype=bool)
        return queries.margin(out, labels[owner]), queries.decisions(out) != labels[owner]

    def random_candidates(owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Half at corners of the box (where monotone models are weakest), half inside; in half of them
        only some numeric inputs move; 0..flips categorical inputs take another value."""
        u = rng.random((len(owner), d))
        corner = rng.random(len(owner)) < 0.5
        u[corner] = np.round(u[corner])
        span = hi[owner] - lo[owner]
        numeric = np.where(domain.integer, np.minimum(np.floor(lo[owner] + u * (span + 1)), hi[owner]),
                           lo[owner] + u * span)
        sparse = (rng.random(len(owner)) < 0.5)[:, None] & (rng.random((len(owner), d)) < 0.5)
        numeric = np.where(sparse, x[owner], numeric)
        codes = np.full((len(owner), k), -1, dtype=int)
        if flips and k:
            count = rng.integers(0, min(flips, k) + 1, size=len(owner))
            rank = np.argsort(np.argsort(rng.random((len(owner), k)), axis=1), axis=1)
            for j in range(k):
                pick = rank[:, j] < count
                have = original[owner, j]
                choices = len(domain.levels[j]) - (have >= 0)
                pick &= choices > 0
                r = np.floor(rng.random(len(owner)) * np.maximum(choices, 1)).astype(int)
                r += (have >= 0) & (r >= have)
                codes[pick, j] = r[pick]
        return numeric, codes

    per_row = max(1, min(budget, int(budget * _RANDOM_SHARE)))
    owner = np.repeat(np.arange(n), per_row)
    numeric, codes = random_candidates(owner)
    s, ok = score(owner, numeric, codes)
    best = _best_per_row(owner, s, ok, n)
    found = _Search(numeric[best], codes[best], s[best], ok[best], np.full(n, per_row), x)

    steps = _numeric_steps(x, lo, hi, domain.integer)
    moves = _moves(domain)
    active = ~found.success & (found.queries < budget)
    while active.any():
        rows = np.flatnonzero(active)
        valid = _valid_moves(moves, found, rows, steps, original, flips)
        fits = found.queries[rows] + valid.sum(axis=1) <= budget
        rows, valid = rows[fits], valid[fits]
        if not len(rows):
            break
        r_idx, m_idx = np.nonzero(valid)
        owner = rows[r_idx]
        numeric = found.numeric[owner].copy()
        codes = found.codes[owner].copy()
        kind, column, value = moves[0][m_idx], moves[1][m_idx], moves[2][m_idx]
        num = kind == 0
        numeric[num, column[num]] = steps[owner[num], column[num], value[num]]
        cat = ~num
        codes[cat, column[cat]] = value[cat]
        s, ok = score(owner, numeric, codes)
        found.queries[rows] += valid.sum(axis=1)
        local = _best_per_row(r_idx, s, ok, len(rows))
        better = ok[local] | (s[local] < found.score[rows] - 1e-12)
        take = rows[better]
        found.numeric[take] = numeric[local[better]]
        found.codes[take] = codes[local[better]]
        found.score[take] = s[local[better]]
        found.success[take] = ok[local[better]]
        active[rows[~better]] = False  # a local optimum
        active &= ~found.success & (found.queries < budget)
    # rows at a local optimum spend what is left of their budget on random candidates again
    rows = np.flatnonzero(~found.success & (found.queries < budget))
    if len(rows):
        left = budget - found.queries[rows]
        local = np.repeat(np.arange(len(rows)), left)
        numeric, codes = random_candidates(rows[local])
        s, ok = score(rows[local], numeric, codes)
        found.queries[rows] += left
        pick = _best_per_row(local, s, ok, len(rows))
        better = ok[pick] | (s[pick] < found.score[rows])
        take = rows[better]
        found.numeric[take], found.codes[take] = numeric[pick[better]], codes[pick[better]]
        found.score[take], found.success[take] = s[pick[better]], ok[pick[better]]
    if labels is not None:
        _drop_needless_changes(found, score)
    return found


def _drop_needless_changes(found: _Search, score: Callable[[np.ndarray, np.ndarray, np.ndarray],
                                                           tuple[np.ndarray, np.ndarray]]) -> None:
    """Undo, one input at a time, each change of a successful perturbation that it does not need, so that
    what is reported is what the flip takes (one query per changed input)."""
    import numpy as np

    d = found.numeric.shape[1]
    for j in range(d + found.codes.shape[1]):
        if j < d:
            rows = np.flatnonzero(found.success & ~np.isnan(found.original[:, j])
                                  & (found.numeric[:, j] != found.original[:, j]))
        else:
            rows = np.flatnonzero(found.success & (found.codes[:, j - d] >= 0))
        if not len(rows):
            continue
        numeric, codes = found.numeric[rows].copy(), found.codes[rows].copy()
        if j < d:
            numeric[:, j] = found.original[rows, j]
        else:
            codes[:, j - d] = -1
        s, ok = score(rows, numeric, codes)
        found.queries[rows] += 1
        keep = rows[ok]
        found.numeric[keep], found.codes[keep], found.score[keep] = numeric[ok], codes[ok], s[ok]


def _best_per_row(owner: np.ndarray, score: np.ndarray, success: np.ndarray, n: int) -> np.ndarray:
    """Index of each row's best candidate: a successful one first, then the lowest score."""
    import numpy as np

    order = np.lexsort((score, ~success, owner))
    first = np.ones(len(order), dtype=bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    best = np.zeros(n, dtype=int)
    best[owner[order][first]] = order[first]
    return best


def _numeric_steps(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, integer: np.ndarray) -> np.ndarray:
    """Per row and numeric input, the values a greedy step may set: ``_FRACTIONS`` of the way from the
    row's value to its low bound, then to its high bound (integers rounded away from the row's value)."""
    import numpy as np

    fractions = np.array(_FRACTIONS)
    down = x[:, :, None] + fractions * (lo - x)[:, :, None]
    up = x[:, :, None] + fractions * (hi - x)[:, :, None]
    whole = integer[None, :, None]
    down = np.where(whole, np.maximum(np.floor(down), lo[:, :, None]), down)
    up = np.where(whole, np.minimum(np.ceil(up), hi[:, :, None]), up)
    return np.concatenate([down, up], axis=2)


def _moves(domain: _Domain) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every coordinate step as (kind, column, value): numeric column to its step ``value`` (see
    ``_numeric_steps``); categorical column to level ``value`` (-1: back to the row's own value)."""
    import numpy as np

    kind: list[int] = []
    column: list[int] = []
    value: list[int] = []
    for j in range(len(domain.numeric)):
        kind += [0] * 2 * len(_FRACTIONS)
        column += [j] * 2 * len(_FRACTIONS)
        value += list(range(2 * len(_FRACTIONS)))
    for j, levels in enumerate(domain.levels):
        for v in range(-1, len(levels)):
            kind.append(1)
            column.append(j)
            value.append(v)
    return np.array(kind, dtype=int), np.array(column, dtype=int), np.array(value, dtype=int)


def _valid_moves(moves: tuple[np.ndarray, np.ndarray, np.ndarray], found: _Search, rows: np.ndarray,
                 steps: np.ndarray, original: np.ndarray, flips: int) -> np.ndarray:
    """Which steps change each row's current candidate and keep it within the attack's limits (a numeric
    step that lands where the previous, larger one did is left out)."""
    import numpy as np

    kind, column, value = moves
    valid = np.zeros((len(rows), len(kind)), dtype=bool)
    num = np.flatnonzero(kind == 0)
    if len(num):
        target = steps[rows][:, column[num], value[num]]
        larger = steps[rows][:, column[num], np.maximum(value[num] - 1, 0)]
        first = (value[num] % len(_FRACTIONS)) == 0
        current = found.numeric[rows][:, column[num]]
        valid[:, num] = ~np.isnan(target) & (target != current) & (first | (target != larger))
    cat = np.flatnonzero(kind == 1)
    if len(cat) and flips:
        codes = found.codes[rows]
        own = original[rows][:, column[cat]]
        step = np.where(value[cat] == own, -1, value[cat])  # the row's own value is no flip
        current = codes[:, column[cat]]
        flipped = (codes >= 0).sum(axis=1)[:, None]
        valid[:, cat] = (step != current) & ((current >= 0) | (step < 0) | (flipped < flips))
        valid[:, cat] &= ~((value[cat] == own) & (value[cat] >= 0))  # taken once, as the -1 step
    return valid


def _level_index(levels: np.ndarray, value: Any) -> int:
    for i, level in enumerate(levels):
        if level == value:
            return i
    return -1


def hop_skip_jump(is_adversarial: Callable[[np.ndarray, np.ndarray], np.ndarray], x0: np.ndarray,
                  start: np.ndarray, low: np.ndarray, high: np.ndarray, free: np.ndarray, *, max_queries: int,
                  rng: np.random.Generator, stop_at: float | None = None,
                  used: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched L-inf HopSkipJump (Chen, Jordan & Wainwright 2020): the smallest adversarial found per row.

    ``is_adversarial(points, rows)`` says whether each point (rows of ``x0``'s width) is adversarial for
    the attacked row ``rows[i]``. ``x0``: the attacked rows; ``start``: an adversarial point per row (NaN
    where none is known: the row is not attacked); ``low``/``high``: the box the points stay in; ``free``:
    which coordinates may move. A row stops when its next step could exceed ``max_queries`` queries (counted
    from ``used``) or when it is within ``stop_at``. Returns the points, their L-inf distances to ``x0``
    (inf where none) and the queries spent per row.
    """
    import numpy as np

    n, d = x0.shape
    spent = np.zeros(n, dtype=int) if used is None else used.astype(int).copy()
    has = ~np.isnan(start).any(axis=1)
    best = np.where(has[:, None], start, x0)
    dist = np.where(has, np.abs(best - x0).max(axis=1), np.inf)
    dims = np.maximum(free.sum(axis=1), 1)
    b0 = int(min(100, max(20, 10 * d)))

    def ask(points: np.ndarray, rows: np.ndarray) -> np.ndarray:
        np.add.at(spent, rows, 1)
        return np.asarray(is_adversarial(points, rows), dtype=bool)

    def boundary(rows: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Binary search between x0 and adversarial ``target`` over the L-inf projection radius."""
        top = np.abs(target - x0[rows]).max(axis=1)
        bottom = np.zeros(len(rows))
        tol = np.maximum(top * _BISECTION_TOL, 1e-9)
        while True:
            open_ = np.flatnonzero(top - bottom > tol)
            if not len(open_):
                break
            mid = (top[open_] + bottom[open_]) / 2
            x = x0[rows[open_]]
            adv = ask(np.clip(target[open_], x - mid[:, None], x + mid[:, None]), rows[open_])
            top[open_] = np.where(adv, mid, top[open_])
            bottom[open_] = np.where(adv, bottom[open_], mid)
        x = x0[rows]
        points = np.clip(target, x - top[:, None], x + top[:, None])
        return points, np.abs(points - x).max(axis=1)

    current = best.copy()
    live = has.copy()
    rows = np.flatnonzero(live)
    if len(rows):
        current[rows], dist[rows] = boundary(rows, best[rows])
        best[rows] = current[rows]
    t = 0
    while True:
        t += 1
        batch = int(b0 * math.sqrt(t))
        live &= spent + batch + _GEOMETRIC_TRIES + 2 * int(math.log2(1 / _BISECTION_TOL) + 2) <= max_queries
        if stop_at is not None:
            live &= dist > stop_at
        rows = np.flatnonzero(live)
        if not len(rows):
            break
        xb = current[rows]
        radius = np.abs(xb - x0[rows]).max(axis=1)
        delta = np.maximum(radius / dims[rows], 1e-6)  # the paper's d * theta * dist, theta = 1 / d^2
        direction = np.zeros((len(rows), d))
        step_rows = max(1, _CHUNK // batch)
        for at in range(0, len(rows), step_rows):  # in chunks: rows x batch x inputs
            part = slice(at, at + step_rows)
            r = rows[part]
            u = rng.uniform(-1.0, 1.0, size=(len(r), batch, d)) * free[r][:, None, :]
            u /= np.maximum(np.linalg.norm(u, axis=2, keepdims=True), 1e-12)
            probes = np.clip(xb[part, None, :] + delta[part, None, None] * u, low[r][:, None, :],
                             high[r][:, None, :])
            u = (probes - xb[part, None, :]) / delta[part, None, None]
            sign = 2.0 * ask(probes.reshape(-1, d), np.repeat(r, batch)).reshape(len(r), batch) - 1.0
            mean = sign.mean(axis=1, keepdims=True)
            centred = np.where(np.abs(mean) == 1.0, sign, sign - mean)  # the paper's baseline for variance
            direction[part] = np.sign((centred[:, :, None] * u).mean(axis=1)) * free[r]
        stuck = ~direction.any(axis=1)
        live[rows[stuck]] = False
        # geometric step along the estimated normal, halved until the point is adversarial again
        step = radius / math.sqrt(t)
        moved = xb.copy()
        pending = np.flatnonzero(~stuck)
        for _ in range(_GEOMETRIC_TRIES):
            if not len(pending):
                break
            trial = np.clip(xb[pending] + step[pending, None] * direction[pending], low[rows[pending]],
                            high[rows[pending]])
            adv = ask(trial, rows[pending])
            moved[pending[adv]] = trial[adv]
            step[pending] /= 2
            pending = pending[~adv]
        points, reach = boundary(rows, moved)
        current[rows] = points
        better = reach < dist[rows]
        best[rows[better]] = points[better]
        dist[rows[better]] = reach[better]
    return best, dist, spent


def _hop_skip_jump_attack(queries: _Queries, labels: np.ndarray, pool: pd.DataFrame, pool_labels: np.ndarray,
                          spec: RobustnessCheck, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray,
                                                                                   np.ndarray, np.ndarray]:
    """HopSkipJump on the numeric inputs in standard deviations, categoricals held. Returns per row the
    adversarial raw numeric values, their L-inf distances (inf where none was found), whether the row is
    broken (an adversarial within epsilon, integer inputs whole) and the queries spent."""
    import numpy as np

    domain = queries.domain
    x = queries.numeric
    n, d = x.shape
    scale = np.where(domain.sd > 0, domain.sd, 1.0)
    free = ~np.isnan(x) & (domain.sd > 0)
    z0 = np.where(free, (x - domain.mean) / scale, 0.0)
    low = np.minimum((domain.low - domain.mean) / scale, z0)
    high = np.maximum((domain.high - domain.mean) / scale, z0)

    def raw(z: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return np.where(free[rows], domain.mean + scale * z, x[rows])

    def is_adversarial(z: np.ndarray, rows: np.ndarray) -> np.ndarray:
        out = queries.output(queries.frame(rows, raw(z, rows)))
        return np.asarray(queries.decisions(out) != labels[rows])

    used = np.zeros(n, dtype=int)
    start = np.full((n, d), np.nan)
    pool_z = (_numbers(pool, domain.numeric) - domain.mean) / scale
    # the nearest training rows of another class (on the free coordinates), with this row's categoricals
    # (a training value that is missing is the row's own)
    take = min(_START_CANDIDATES, len(pool_z))
    near = np.zeros((n, take), dtype=int)
    near_gap = np.zeros((n, take))
    step = max(1, _CHUNK // max(1, len(pool_z) * d))
    for at in range(0, n, step):  # in chunks: rows x pool x inputs
        part = slice(at, at + step)
        filled = np.where(np.isnan(pool_z)[None, :, :], z0[part, None, :], pool_z[None, :, :])
        gap = np.where(free[part, None, :], np.abs(filled - z0[part, None, :]), 0.0).max(axis=2)
        gap = np.where(pool_labels[None, :] != labels[part, None], gap, np.inf)
        near[part] = np.argsort(gap, axis=1)[:, :take]
        near_gap[part] = np.take_along_axis(gap, near[part], axis=1)
    owner = np.repeat(np.arange(n), take)
    picked = pool_z[near.ravel()]
    cand = np.where(free[owner] & ~np.isnan(picked), picked, z0[owner])
    usable = np.isfinite(near_gap.ravel())
    _pick_start(is_adversarial, cand[usable], owner[usable], z0, start, used)
    missing = np.flatnonzero(np.isnan(start).any(axis=1))
    if len(missing):
        owner = np.repeat(missing, _RANDOM_STARTS)
        u = rng.random((len(owner), d))
        cand = np.where(free[owner], low[owner] + u * (high[owner] - low[owner]), z0[owner])
        _pick_start(is_adversarial, cand, owner, z0, start, used)
    best, dist, used = hop_skip_jump(is_adversarial, z0, start, low, high, free, max_queries=spec.max_queries,
                                     rng=rng, stop_at=spec.epsilon, used=used)
    adversarial = raw(best, np.arange(n))
    broken = dist <= spec.epsilon
    rounding = free & domain.integer
    rows = np.flatnonzero(broken & rounding.any(axis=1))
    if len(rows):  # integer inputs: a break counts only once they are whole numbers again
        x_r, a_r = x[rows], adversarial[rows]
        nearest = np.where(rounding[rows], np.round(a_r), a_r)
        outward = np.where(rounding[rows], np.where(a_r > x_r, np.ceil(a_r), np.floor(a_r)), a_r)
        tried = np.vstack([nearest, outward])
        owner = np.concatenate([rows, rows])
        z = np.where(free[owner], (tried - domain.mean) / scale, 0.0)
        gap = np.abs(z - z0[owner]).max(axis=1)
        adv = is_adversarial(z, owner)
        np.add.at(used, owner, 1)
        gap = np.where(adv & (gap <= spec.epsilon), gap, np.inf)
        pick = np.where(gap[: len(rows)] <= gap[len(rows):], 0, 1)
        chosen = pick * len(rows) + np.arange(len(rows))
        adversarial[rows] = tried[chosen]
        broken[rows] = np.isfinite(gap[chosen])
        dist[rows] = np.where(broken[rows], gap[chosen], dist[rows])
    return adversarial, dist, broken, used


def _pick_start(is_adversarial: Callable[[np.ndarray, np.ndarray], np.ndarray], cand: np.ndarray,
                owner: np.ndarray, z0: np.ndarray, start: np.ndarray, used: np.ndarray) -> None:
    """Set ``start`` of each owner to its nearest adversarial candidate."""
    import numpy as np

    if not len(owner):
        return
    adv = is_adversarial(cand, owner)
    np.add.at(used, owner, 1)
    gap = np.where(adv, np.abs(cand - z0[owner]).max(axis=1), np.inf)
    for i in np.argsort(-gap):  # nearest last, so that it wins
        if np.isfinite(gap[i]):
            start[owner[i]] = cand[i]


@check("robustness", METRICS)
def robustness(ctx: CheckContext) -> CheckResult:
    """Bounded-perturbation search and HopSkipJump on correctly classified test rows (regression: how far
    a bounded perturbation moves the prediction)."""
    import numpy as np

    spec = ctx.checks.robustness
    model = ctx.model
    for split, frame in (("training", ctx.train), ("test", ctx.test)):
        lacking = [c for c in [*model.features.columns, ctx.target] if c not in frame.columns]
        if lacking:
            raise ValueError(f"robustness check: the {split} split lacks column(s) {lacking} that the model "
                             f"{model.learner!r} needs (inputs {model.features.columns}, target {ctx.target!r}); "
                             "pass the splits the model was trained and evaluated on")
    if not model.features.columns:
        return CheckResult("robustness", "skipped", reason="the model uses no input column to perturb")
    rng = np.random.default_rng(ctx.seed)
    domain = _Domain.learn(ctx.train, model.features, spec.max_levels)
    if model.task is TaskKind.REGRESSION:
        return _regression(ctx, spec, domain, rng)
    started = time.perf_counter()
    y = ctx.y_test()
    probe = _Queries(model, domain, ctx.test)
    correct = np.flatnonzero(probe.decisions(probe.output(ctx.test)) == y)
    accuracy = len(correct) / max(len(y), 1)
    if not len(correct):
        return CheckResult("robustness", "skipped", reason="the model classifies no test row correctly: "
                           "there is nothing to attack")
    chosen = np.sort(rng.choice(correct, size=min(spec.max_rows, len(correct)), replace=False))
    rows = ctx.test.iloc[chosen]
    labels = y[chosen]
    queries = _Queries(model, domain, rows)
    found = _perturbation_search(queries, labels, spec.epsilon, spec.flips, spec.perturbation_queries, rng)
    success = float(found.success.mean())
    metrics = {"perturbation_success_rate": success, "accuracy_under_perturbation": accuracy * (1 - success)}
    seconds = time.perf_counter() - started
    examples = _examples(queries, "perturbation", found.numeric, found.codes, np.flatnonzero(found.success), rows,
                         labels, model.classes)
    details: dict[str, Any] = {
        "accuracy": accuracy, "rows_attacked": len(rows), "correct_rows": len(correct),
        "perturbation": {"epsilon": spec.epsilon, "flips": spec.flips, "rows_flipped": int(found.success.sum()),
                         "rows_flipped_numeric_only": int((found.success & (found.codes < 0).all(axis=1)).sum()),
                         "mean_queries": float(found.queries.mean()), "max_queries": spec.perturbation_queries,
                         "seconds": round(seconds, 3)},
        "columns_moved": _columns_moved(queries, found),
    }
    method = (f"{len(rows)} of {len(correct)} correctly classified test rows (seeded sample) attacked. "
              f"Bounded perturbation: numeric inputs within +-{spec.epsilon} training sd (training range, "
              f"integers kept), at most {spec.flips} categorical input(s) changed to one of the "
              f"{spec.max_levels} commonest training values; random candidates then greedy coordinate steps "
              f"on the probability margin, <= {spec.perturbation_queries} queries per row.")
    if spec.attack == "hopskipjump" and domain.numeric:
        started = time.perf_counter()
        pool_at = rng.choice(len(ctx.train), size=min(_POOL_ROWS, len(ctx.train)), replace=False)
        pool = ctx.train.iloc[pool_at]
        adversarial, dist, broken, used = _hop_skip_jump_attack(queries, labels, pool, ctx.y_train()[pool_at],
                                                                spec, rng)
        rate = float(broken.mean())
        metrics["attack_success_rate"] = rate
        metrics["accuracy_under_attack"] = accuracy * (1 - rate)
        reached = np.isfinite(dist)
        details["hopskipjump"] = {
            "epsilon": spec.epsilon, "rows_broken": int(broken.sum()), "rows_with_start": int(reached.sum()),
            "median_linf_broken": float(np.median(dist[broken])) if broken.any() else None,
            "median_linf_found": float(np.median(dist[reached])) if reached.any() else None,
            "mean_queries": float(used.mean()), "max_queries": spec.max_queries,
            "seconds": round(time.perf_counter() - started, 3),
        }
        examples += _examples(queries, "hopskipjump", adversarial, None, np.flatnonzero(broken), rows, labels,
                              model.classes)
        method += (f" HopSkipJump (L-inf, numeric inputs in training sd, categoricals fixed) from the nearest "
                   f"training row of another class, <= {spec.max_queries} queries per row; a row is broken when "
                   f"an adversarial within {spec.epsilon} is found (integer inputs are searched as continuous, "
                   "then rounded: the rounded point must still be adversarial and within epsilon).")
    elif spec.attack == "hopskipjump":
        details["hopskipjump"] = {"skipped": "the model has no numeric input to move"}
    white_box = gradient_attacks(model, queries, rows, labels, accuracy, spec, ctx.seed) if spec.gradient_attacks \
        else None
    if white_box is not None:
        figures, attacks, shown, text = white_box
        metrics.update(figures)
        details.update(attacks)
        examples += shown
        method += text
    details["examples"] = examples
    return CheckResult("robustness", "ok", metrics, details, method)


def _regression(ctx: CheckContext, spec: RobustnessCheck, domain: _Domain, rng: np.random.Generator) -> CheckResult:
    import numpy as np

    if not len(ctx.test):
        return CheckResult("robustness", "skipped", reason="the test split has no row to perturb")
    chosen = np.sort(rng.choice(len(ctx.test), size=min(spec.max_rows, len(ctx.test)), replace=False))
    rows = ctx.test.iloc[chosen]
    queries = _Queries(ctx.model, domain, rows)
    found = _perturbation_search(queries, None, spec.epsilon, spec.flips, spec.perturbation_queries, rng)
    target_sd = float(np.std(ctx.y_train())) or 1.0
    moved = -found.score / target_sd
    metrics = {"perturbation_sensitivity": float(np.median(moved))}
    details = {"rows_attacked": len(rows), "target_sd": target_sd,
               "perturbation": {"epsilon": spec.epsilon, "flips": spec.flips,
                                "median_change_sd": float(np.median(moved)),
                                "p90_change_sd": float(np.quantile(moved, 0.9)),
                                "max_change_sd": float(moved.max()), "mean_queries": float(found.queries.mean())},
               "columns_moved": _columns_moved(queries, found),
               "hopskipjump": {"skipped": "a decision-based attack: it applies to classification only"}}
    method = (f"{len(rows)} test rows (seeded sample): the largest change of the prediction found by random "
              f"candidates then greedy coordinate steps, numeric inputs within +-{spec.epsilon} training sd, at "
              f"most {spec.flips} categorical input(s) changed; in training-target sd.")
    return CheckResult("robustness", "ok", metrics, details, method)


def _changes(queries: _Queries, found_numeric: np.ndarray, codes: np.ndarray | None,
             i: int) -> list[tuple[str, Any, Any]]:
    """(column, original, adversarial) for each input the attack changed in row ``i``."""
    import numpy as np

    domain = queries.domain
    out: list[tuple[str, Any, Any]] = []
    for j, c in enumerate(domain.numeric):
        before, after = queries.numeric[i, j], found_numeric[i, j]
        if not np.isnan(before) and abs(after - before) > 1e-9 * max(1.0, abs(before)):
            whole = domain.integer[j] and float(after).is_integer() and float(before).is_integer()
            out.append((c, int(before), int(after)) if whole else (c, float(before), round(float(after), 6)))
    for j, c in enumerate(domain.categorical):
        if codes is not None and codes[i, j] >= 0:
            out.append((c, _text(queries.categorical[j][i]), _text(domain.levels[j][codes[i, j]])))
    return out


def _columns_moved(queries: _Queries, found: _Search) -> list[dict[str, Any]]:
    """Per input, the share of successful perturbations (regression: of all) that changed it."""
    import numpy as np

    hits = np.flatnonzero(found.success) if found.success.any() else np.arange(len(found.success))
    counts: dict[str, int] = {}
    for i in hits:
        for column, _, _ in _changes(queries, found.numeric, found.codes, int(i)):
            counts[column] = counts.get(column, 0) + 1
    total = max(len(hits), 1)
    return [{"column": c, "share": n / total} for c, n in sorted(counts.items(), key=lambda kv: -kv[1])]


def _examples(queries: _Queries, attack: str, numeric: np.ndarray, codes: np.ndarray | None,
              picked: np.ndarray, rows: pd.DataFrame, labels: np.ndarray, classes: list[Any]) -> list[dict[str, Any]]:
    """A few successful attacks as table rows: one per changed input, with the decision before and after."""
    picked = picked[:_EXAMPLES]
    if not len(picked):
        return []
    out = queries.output(queries.frame(picked, numeric[picked], None if codes is None else codes[picked]))
    after = queries.decisions(out)
    table: list[dict[str, Any]] = []
    for i, new in zip(picked, after, strict=True):
        for column, before, value in _changes(queries, numeric, codes, int(i)):
            table.append({"attack": attack, "row": _row_label(rows.index[i]), "column": column,
                          "original": before, "adversarial": value,
                          "decision": f"{classes[labels[i]]} -> {classes[int(new)]}"})
    return table


def _numbers(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    import numpy as np
    import pandas as pd

    if not columns:
        return np.zeros((len(frame), 0))
    return np.column_stack([pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                            for c in columns])


def _text(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _row_label(label: Any) -> Any:
    return label.item() if hasattr(label, "item") else label if isinstance(label, (int, str)) else str(label)
