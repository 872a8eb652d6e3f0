"""What the learners over text columns share (``TextLearner``): the text encoding, and a clear refusal of data
without a text column."""

from __future__ import annotations

import pytest

from aiforge.learn import LEARNERS
from aiforge.learn._text_learners import TextLearner
from aiforge.spec import TaskKind


@pytest.mark.parametrize("name", ["tfidf", "transformer"])
def test_a_text_learner_reads_the_text_columns_and_refuses_data_without_one(name: str) -> None:
    learner = LEARNERS[name]
    assert issubclass(learner, TextLearner)
    assert learner.reads_text and learner.encoding == "text" and learner.scale
    if not learner.available():
        pytest.skip(f"{learner.requires} is not installed")
    with pytest.raises(ValueError, match=f"^the {name} learner needs a text column: name it in data.text_columns$"):
        learner().build(TaskKind.BINARY, 0, 1, [], {})
