"""The text generation metrics against values computed by hand from their published definitions: chrF (Popović,
2015: character n-grams up to 6, precision and recall averaged over the orders, then the F-score with recall weighted
by beta 2; spaces are not characters), BLEU's extremes, exact match; and chrF as the task's default objective."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sacrebleu")

from aiforge.evaluate import METRICS, compute_metrics, default_metric  # noqa: E402
from aiforge.spec import TaskKind  # noqa: E402


def texts(*values: str) -> np.ndarray:
    return np.asarray(values, dtype=object)


def test_chrf_one_substituted_character() -> None:
    # 'abcdefg' vs 'abcdefh': of the 7-n+1 n-grams of each order n, 6-n+1 match, on both sides, so precision equals
    # recall at each order: the mean of 6/7, 5/6, 4/5, 3/4, 2/3, 1/2
    expected = 100 * np.mean([6 / 7, 5 / 6, 4 / 5, 3 / 4, 2 / 3, 1 / 2])
    assert METRICS["chrf"](texts("abcdefg"), texts("abcdefh")) == pytest.approx(expected, abs=1e-9)


def test_chrf_weighs_recall_twice_as_much_as_precision() -> None:
    # 'abcdef' generated for 'abcdefgh': every generated n-gram is right (precision 1 at each order); recall is
    # (7-n)/(9-n) ... 6/8, 5/7, 4/6, 3/5, 2/4, 1/3; F2 = 5PR / (4P + R) on the averages
    recall = float(np.mean([6 / 8, 5 / 7, 4 / 6, 3 / 5, 2 / 4, 1 / 3]))
    expected = 100 * 5 * recall / (4 + recall)
    assert METRICS["chrf"](texts("abcdefgh"), texts("abcdef")) == pytest.approx(expected, abs=1e-9)
    # the other way round (precision < 1, recall 1) scores higher: recall weighs more
    assert METRICS["chrf"](texts("abcdef"), texts("abcdefgh")) > expected


def test_chrf_ignores_spaces_and_spans_the_corpus() -> None:
    assert METRICS["chrf"](texts("the cat", "a dog"), texts("thecat", "a dog")) == pytest.approx(100.0)
    assert METRICS["chrf"](texts("abcdefg"), texts("xyz")) == 0.0


def test_bleu_and_exact_match() -> None:
    same = texts("the cat sat on the mat", "hello there my friend")
    assert METRICS["bleu"](same, same) == pytest.approx(100.0)
    assert METRICS["bleu"](same, texts("x y z w", "q r s t")) == 0.0
    assert METRICS["exact_match"](same, texts("the cat sat on the mat ", "hello there")) == 0.5


def test_generation_metrics_and_objective() -> None:
    figures = compute_metrics(TaskKind.TEXT_GENERATION, texts("a b", "c d"), texts("a b", "c e"))
    assert set(figures) == {"chrf", "bleu", "exact_match"} and figures["exact_match"] == 0.5
    assert default_metric(TaskKind.TEXT_GENERATION).name == "chrf" and METRICS["chrf"].higher_is_better
    assert "chrf" not in compute_metrics(TaskKind.REGRESSION, np.array([1.0, 2.0]), np.array([1.0, 2.5]))
