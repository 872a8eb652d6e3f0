"""Text analysis as a served task: ``POST /v1/nlp/entities`` and ``POST /v1/nlp/pos``.

Both answer from one spaCy pipeline per server process (``ServeSettings.nlp_model``: spaCy's small English
model by default, or the folder of a pipeline fine-tuned by ``aiforge nlp train-ner``), loaded on the first
request (so a server that never analyses text never loads spaCy). They need the predict role, like predictions.
Without the nlp extra they answer 501 with the command that installs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from aiforge.serve._schema import check_batch_size

__all__ = ["EntitiesResponse", "PosResponse", "TextsRequest", "nlp_router"]

MAX_TEXT_CHARS = 100_000  # one text; spaCy's own limit is 1,000,000 and its memory grows with the text


class TextsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[Annotated[str, Field(max_length=MAX_TEXT_CHARS)]] = Field(
        description="The texts to analyse (at most the server's max batch size; each at most 100,000 characters).",
        examples=[["Apple opened a store in London on 3 March 2024.", "Angela Merkel visited Paris."]])


class EntityBody(BaseModel):
    text: str
    label: str = Field(description="PERSON, ORG, GPE, MONEY, DATE, ... (or a label the pipeline was tuned for).")
    start: int = Field(description="The offset of its first character in the text.")
    end: int = Field(description="The offset after its last character: text[start:end] is the entity.")


class EntitiesDocument(BaseModel):
    entities: list[EntityBody]


class EntitiesResponse(BaseModel):
    model: str = Field(description="The spaCy pipeline that answered.")
    documents: list[EntitiesDocument] = Field(description="One per text, in order.")


class TokenBody(BaseModel):
    text: str
    pos: str = Field(description="The universal part of speech: NOUN, VERB, ADJ, PROPN, ...")
    tag: str = Field(description="The fine-grained (Penn Treebank) tag.")
    start: int = Field(description="The offset of its first character in the text.")


class PosDocument(BaseModel):
    tokens: list[TokenBody]


class PosResponse(BaseModel):
    model: str
    documents: list[PosDocument]


def nlp_router(model: str | None, max_batch: int, dependencies: list[Any],
               responses: dict[int | str, dict[str, Any]]) -> APIRouter:
    """The text routes over the spaCy pipeline ``model`` (None: the default), limited to ``max_batch`` texts."""
    from aiforge.nlp._spacy import SpacyPipeline, check_pipeline, load_pipeline

    check_pipeline(model)  # a folder that holds no pipeline stops the server now, not at the first request
    router = APIRouter(tags=["nlp"], dependencies=dependencies)
    answers = {**responses, 501: {"description": "spaCy or its model is not installed (the nlp extra)."}}

    async def analysed(texts: list[str], key: str,
                       analyse: Callable[[SpacyPipeline, list[str]], Sequence[Sequence[Any]]]) -> dict[str, Any]:
        """``analyse`` run over ``texts`` off the event loop: the pipeline's name and, per text, under ``key``
        what was found in it."""
        check_batch_size(len(texts), max_batch, "texts")

        def work() -> dict[str, Any]:
            pipeline = load_pipeline(model)
            return {"model": pipeline.name,
                    "documents": [{key: [x.to_json() for x in found]} for found in analyse(pipeline, texts)]}

        return await run_in_threadpool(work)

    @router.post("/v1/nlp/entities", response_model=EntitiesResponse, responses=answers)
    async def named_entities(body: TextsRequest) -> dict[str, Any]:
        """The named entities of each text (people, organisations, places, amounts, dates, ...), with their
        character offsets."""
        return await analysed(body.texts, "entities", SpacyPipeline.entities)

    @router.post("/v1/nlp/pos", response_model=PosResponse, responses=answers)
    async def parts_of_speech(body: TextsRequest) -> dict[str, Any]:
        """The tokens of each text with their part-of-speech tags."""
        return await analysed(body.texts, "tokens", SpacyPipeline.pos)

    return router
