"""Named entities against BIO-tagged data: entity-level scores, and fine-tuning for new entity labels.

A BIO file is CoNLL-style text: one token per line, its tag in the last column (``O``, ``B-ORG``, ``I-ORG``;
an ``I-`` tag after ``O`` starts an entity, as in IOB1; BIOES and BILUO tags are read too), a blank line between
sentences; ``-DOCSTART-`` lines are skipped. Scores are entity-level (a predicted entity counts only with the
exact span and label), computed by spaCy's own ``Scorer`` over ``Example`` pairs: per label, micro (over all
entities) and macro (the mean over the labels of the gold data).

Fine-tuning adds the new labels to the pipeline's entity recogniser, trains only it (dropout, shuffled
mini-batches), scores the dev data after each epoch and keeps the best epoch (epoch 0, the base pipeline, when
none beats it); training stops when the dev F1 has not improved for ``patience`` epochs. The result is a spaCy
pipeline folder that every face of aiforge loads by path (``--model DIR``, ``nlp_features.model``,
``aiforge serve --nlp-model DIR``).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError
from aiforge.nlp._spacy import DEFAULT_MODEL, SpacyPipeline, load_pipeline

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.training import Example

__all__ = ["BioSentence", "LabelScore", "NerScores", "NerTraining", "evaluate_ner", "read_bio", "train_ner"]

TRAINING_RECORD = "aiforge-ner-training.json"  # written beside the pipeline by train_ner
_PREFIXES = ("B-", "I-", "E-", "S-", "L-", "U-")


@dataclass(frozen=True)
class BioSentence:
    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    line: int  # of its first token in the file


@dataclass(frozen=True)
class LabelScore:
    precision: float
    recall: float
    f1: float
    support: int  # entities of this label in the gold data


@dataclass(frozen=True)
class NerScores:
    """Entity-level scores of one pipeline on one BIO data set."""

    model: str
    sentences: int
    entities: int
    micro: LabelScore
    macro: LabelScore
    per_label: dict[str, LabelScore]
    labels: list[str] | None = None  # the labels scored (None: every label)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NerTraining:
    """What ``train_ner`` did: the labels added, the dev scores per epoch, the best epoch kept."""

    out: str
    base: str
    added_labels: list[str]
    train_sentences: int
    dev_sentences: int
    base_scores: NerScores
    best_scores: NerScores
    best_epoch: int
    epochs: list[dict[str, float]] = field(default_factory=list)  # epoch, loss, dev p, r, f1
    stopped_early: bool = False
    seconds: float = 0.0
    rehearsed: int = 0  # base-pipeline entities added to the training sentences (rehearse=True)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def read_bio(path: str | Path) -> list[BioSentence]:
    """The sentences of a BIO file; a malformed line is a ``DataError`` naming its file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError("BIO file not found", where=str(path)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError("BIO file cannot be read", where=str(path), found=str(exc)) from exc
    sentences: list[BioSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("-DOCSTART-"):
            continue
        if not line:
            if tokens:
                sentences.append(BioSentence(tuple(tokens), tuple(tags), start))
                tokens, tags = [], []
            continue
        parts = line.split()
        tag = parts[-1]
        if len(parts) < 2 or not (tag == "O" or (tag[:2] in _PREFIXES and len(tag) > 2)):
            raise DataError("not a BIO line", where=f"{path}:{number}", expected="TOKEN TAG, the tag O, B-LABEL or "
                            "I-LABEL (or E-/S-, L-/U- of BIOES and BILUO; whitespace between; a blank line between "
                            "sentences)", found=repr(raw[:80]))
        if not tokens:
            start = number
        tokens.append(parts[0])
        tags.append(tag)
    if tokens:
        sentences.append(BioSentence(tuple(tokens), tuple(tags), start))
    if not sentences:
        raise DataError("the BIO file holds no sentence", where=str(path))
    return sentences


def _biluo(tags: list[str], iob_to_biluo: Any) -> list[str]:
    """BILUO tags from IOB (IOB1 or IOB2) or BIOES (E- is L-, S- is U-) tags."""
    if any(t[:2] in ("E-", "S-", "L-", "U-") for t in tags):
        return [{"E-": "L-", "S-": "U-"}.get(t[:2], t[:2]) + t[2:] if t != "O" else t for t in tags]
    return list(iob_to_biluo(tags))


def _examples(nlp: Language, sentences: Sequence[BioSentence]) -> list[Example]:
    """Gold ``Example``s: each sentence's tokens as a Doc (no prediction yet) and its entities as reference."""
    from spacy.tokens import Doc
    from spacy.training import Example, biluo_tags_to_spans, iob_to_biluo

    examples = []
    for s in sentences:
        reference = Doc(nlp.vocab, words=list(s.tokens))
        reference.ents = biluo_tags_to_spans(reference, _biluo(list(s.tags), iob_to_biluo))
        examples.append(Example(Doc(nlp.vocab, words=list(s.tokens)), reference))
    return examples


def _score(pipeline: SpacyPipeline, examples: Sequence[Example], labels: Sequence[str] | None) -> NerScores:
    from spacy.scorer import Scorer
    from spacy.tokens import Doc
    from spacy.training import Example

    # fresh Docs each time: the recogniser keeps entities a Doc already has, so a Doc is predicted once
    fresh = (Doc(pipeline.nlp.vocab, words=[t.text for t in e.reference]) for e in examples)
    predicted = list(pipeline.docs(fresh, entities=True, tags=False))
    scored = [Example(p, e.reference) for p, e in zip(predicted, examples, strict=True)]
    wanted = set(labels) if labels else None

    def getter(doc: Any, attr: str) -> list[Any]:
        return [e for e in doc.ents if wanted is None or e.label_ in wanted]

    result = Scorer.score_spans(scored, "ents", getter=getter)
    support = Counter(e.label_ for ex in scored for e in getter(ex.reference, "ents"))
    per_type = result.get("ents_per_type") or {}
    per_label = {label: LabelScore(round(s["p"], 4), round(s["r"], 4), round(s["f"], 4), support.get(label, 0))
                 for label, s in sorted(per_type.items())}
    for label in support:  # a gold label never predicted: scored 0, not left out
        per_label.setdefault(label, LabelScore(0.0, 0.0, 0.0, support[label]))
    gold = [per_label[label] for label in sorted(support)]
    total = sum(support.values())
    micro = LabelScore(round(result.get("ents_p") or 0.0, 4), round(result.get("ents_r") or 0.0, 4),
                       round(result.get("ents_f") or 0.0, 4), total)
    p, r, f = (round(sum(getattr(s, a) for s in gold) / len(gold), 4) if gold else 0.0
               for a in ("precision", "recall", "f1"))
    macro = LabelScore(p, r, f, total)
    return NerScores(pipeline.name, len(examples), total, micro, macro, dict(sorted(per_label.items())),
                     sorted(labels) if labels else None)


def _rehearse(pipeline: SpacyPipeline, examples: list[Example], gold_labels: set[str]) -> int:
    """Adds to each example's reference the base pipeline's entities of labels outside ``gold_labels`` that
    overlap none of its gold entities; returns how many were added."""
    from spacy.tokens import Doc

    fresh = (Doc(pipeline.nlp.vocab, words=[t.text for t in e.reference]) for e in examples)
    added = 0
    for example, predicted in zip(examples, pipeline.docs(fresh, entities=True, tags=False), strict=True):
        reference = example.reference
        gold = list(reference.ents)
        extra = [reference.char_span(e.start_char, e.end_char, label=e.label_) for e in predicted.ents
                 if e.label_ not in gold_labels and not any(e.start < g.end and g.start < e.end for g in gold)]
        keep = [span for span in extra if span is not None]
        if keep:
            reference.ents = sorted([*gold, *keep], key=lambda span: span.start)
            added += len(keep)
    return added


def evaluate_ner(bio: str | Path | Sequence[BioSentence], *, model: str | Path | None = None,
                 labels: Sequence[str] | None = None) -> NerScores:
    """Entity-level precision, recall and F1 of ``model`` on BIO data (a file or read sentences); ``labels``:
    score only these labels (predicted and gold entities of other labels are left out)."""
    sentences = read_bio(bio) if isinstance(bio, str | Path) else list(bio)
    pipeline = load_pipeline(model)
    return _score(pipeline, _examples(pipeline.nlp, sentences), labels)


def train_ner(train: str | Path | Sequence[BioSentence], dev: str | Path | Sequence[BioSentence], out: str | Path,
              *, base: str | Path | None = None, epochs: int = 30, patience: int = 5, dropout: float = 0.2,
              batch_size: int = 8, seed: int = 0, labels: Sequence[str] | None = None,
              rehearse: bool = False) -> NerTraining:
    """Fine-tune the entity recogniser of ``base`` (default: ``DEFAULT_MODEL``) on BIO ``train`` data, early
    stopped on the entity-level F1 on ``dev`` (scored over ``labels``, default: every label), and save the
    best epoch's pipeline to the folder ``out``. ``rehearse``: the training sentences also teach the entities the
    base pipeline finds in them of labels the BIO data never uses (where they overlap no gold entity), so that a
    file annotated with new labels only does not make the recogniser forget the old ones."""
    import spacy
    from spacy.util import fix_random_seed, minibatch

    if epochs < 1 or patience < 1 or batch_size < 1 or not 0 <= dropout < 1:
        raise DataError("train_ner: epochs, patience and batch_size must be >= 1 and dropout in [0, 1)",
                        found=f"epochs={epochs}, patience={patience}, batch_size={batch_size}, dropout={dropout}")
    started = time.perf_counter()
    train_sentences = read_bio(train) if isinstance(train, str | Path) else list(train)
    dev_sentences = read_bio(dev) if isinstance(dev, str | Path) else list(dev)
    out = Path(out)
    base_name = str(base) if base is not None else DEFAULT_MODEL
    load_pipeline(base_name)  # the clear errors of a missing spaCy or model, before anything is trained
    fix_random_seed(seed)
    nlp = spacy.load(base_name, exclude=["parser", "lemmatizer", "senter"])  # a copy of its own to train
    pipeline = SpacyPipeline(nlp, base_name)
    ner: Any = nlp.get_pipe("ner")
    wanted = sorted({t[2:] for s in train_sentences for t in s.tags if t != "O"})
    added = [label for label in wanted if label not in ner.labels]
    dev_examples = _examples(nlp, dev_sentences)
    train_examples = _examples(nlp, train_sentences)
    rehearsed = _rehearse(pipeline, train_examples, set(wanted)) if rehearse else 0  # by the base, before any update
    for label in added:
        ner.add_label(label)
    base_scores = _score(pipeline, dev_examples, labels)  # epoch 0: what is saved if no epoch does better
    trained = ["ner", *pipeline._sources("ner")]
    optimizer = nlp.resume_training()
    order = random.Random(seed)
    best = base_scores  # epoch 0: the base pipeline (its new labels never predicted) until an epoch beats it
    best_epoch = 0
    history: list[dict[str, float]] = []
    best_bytes = ner.to_bytes()
    stopped_early = False
    for epoch in range(1, epochs + 1):
        order.shuffle(train_examples)
        losses: dict[str, float] = {}
        with nlp.select_pipes(enable=trained):
            for batch in minibatch(train_examples, size=batch_size):
                nlp.update(batch, drop=dropout, sgd=optimizer, losses=losses)
        scores = _score(pipeline, dev_examples, labels)
        history.append({"epoch": epoch, "loss": round(float(losses.get("ner", 0.0)), 4),
                        "precision": scores.micro.precision, "recall": scores.micro.recall, "f1": scores.micro.f1})
        if scores.micro.f1 > best.micro.f1:
            best, best_epoch, best_bytes = scores, epoch, ner.to_bytes()
        elif epoch - best_epoch >= patience and epoch < epochs:
            stopped_early = True
            break
    ner.from_bytes(best_bytes)
    out.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out)
    record = NerTraining(str(out), base_name, added, len(train_sentences), len(dev_sentences), base_scores,
                         best, best_epoch, history, stopped_early, round(time.perf_counter() - started, 2),
                         rehearsed)
    (out / TRAINING_RECORD).write_text(json.dumps(record.to_json(), indent=2) + "\n", encoding="utf-8")
    return record
