"""``POST /v1/decisions/{name}``: the decision policy registered with the version that answers for NAME.

Each record is validated against the model's schema like a prediction (422 naming every bad field), predicted
by the same fast path, logged to the prediction log (so drift monitoring sees decision traffic too) and then
decided by ``aiforge.reason`` (rules, network posterior, expected utility); the decisions go to the decision
log (``monitor/_decisions.py``). A record may carry, beside the model's inputs, the facts the rules or
networks read that the model does not (``Decider.extra_facts``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.params import Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from aiforge.monitor import DecisionLog
from aiforge.reason import Decider, model_facts
from aiforge.registry import ModelRegistry
from aiforge.serve._models import Outputs, ServedModel
from aiforge.serve._schema import FieldError, invalid

__all__ = ["DecideRequest", "DecideResponse", "decision_router"]


class DecideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[dict[str, Any]] = Field(
        min_length=1, description="One object per record: the model's inputs (as for predict), plus any fact the "
        "rules or networks read that the model does not. At most the server's max batch size.",
        examples=[[{"age": 35, "income_k": 40, "loan_k": 12, "employment": "employed", "months_employed": 30,
                    "credit_history": "good", "country": "NL"}]])


class DecisionBody(BaseModel):
    id: str = Field(description="A unique id of this decision (also the id of its logged prediction).")
    action: str = Field(description="The action taken.")
    expected_utility: float = Field(description="Its expected utility under the outcome probabilities.")
    why: str = Field(description="What decided it, in a sentence.")
    utilities: dict[str, float] = Field(description="The expected utility of every action.")
    probabilities: dict[str, float] = Field(description="The outcome states' probabilities used.")
    allowed: list[str] = Field(description="The actions the rules left.")
    forbidden: dict[str, str] = Field(description="Forbidden action -> the rule that forbade it.")
    required_by: str | None = Field(None, description="The rule that required the action, if one did.")
    rules: list[dict[str, Any]] = Field(description="Every rule that fired (or was overruled), in order, with why.")
    unknown_rules: list[str] = Field(description="Rules whose condition a missing fact left undecided.")
    facts: dict[str, Any] = Field(description="The facts rules derived.")
    evidence: dict[str, str] = Field(description="The network evidence taken from the record.")
    model: dict[str, Any] = Field(description="The model's outputs: prediction, probability.")
    model_only: str | None = Field(None, description="The action the model's probabilities alone would choose.")


class DecideResponse(BaseModel):
    model: str
    version: int
    decisions: list[DecisionBody]


def decision_router(registry: ModelRegistry, served: Callable[[str, str | None], Awaitable[ServedModel]],
                    logged: Callable[..., list[str]], log_folder: Path | None, max_batch: int,
                    dependencies: list[Depends], responses: dict[int | str, dict[str, Any]]) -> APIRouter:
    """The decision route over the server's own model cache (``served``) and prediction logging (``logged``);
    decisions are logged under ``log_folder`` (None: not logged)."""
    from aiforge.serve._rollout import Tag

    decisions = DecisionLog(log_folder) if log_folder is not None else None
    router = APIRouter()
    deciders: dict[tuple[str, int], Decider] = {}

    def decider_of(model: ServedModel) -> Decider:
        key = (model.version.name, model.version.version)
        found = deciders.get(key)
        if found is None:
            found = deciders[key] = Decider.load(registry, model.version, model=model.model)
        return found

    @router.post("/v1/decisions/{name}", response_model=DecideResponse, responses=responses, tags=["v1"],
                 dependencies=dependencies)
    async def decide(name: str, body: DecideRequest) -> JSONResponse:
        """Decide each record with the decision policy of the version that answers for NAME: the model's
        probabilities, the rules (hard limits, exclusions), the network's posterior and the utility matrix give
        an action with its expected utility and an explanation. Logged and monitored like predictions."""
        model = await served(name, None)

        def work() -> dict[str, Any]:
            started = time.perf_counter()
            decider = decider_of(model)
            extra = decider.extra_facts
            inputs: list[Any] = []
            errors: list[FieldError] = []
            for i, record in enumerate(body.records):
                if type(record) is not dict:
                    errors.append(FieldError(i, None, "a record must be a JSON object"))
                    continue
                for fact in extra:
                    value = record.get(fact)
                    if value is not None and not isinstance(value, str | int | float | bool):
                        errors.append(FieldError(i, fact, "a fact is a number, text, true/false or null"))
                inputs.append({k: v for k, v in record.items() if k not in extra})
            if errors:
                raise invalid(errors)
            columns = model.schema.columns_from_records(inputs, max_records=max_batch)
            outputs: Outputs = model.predict_columns(columns)
            ids = logged(model, columns, outputs, started, Tag(ids=[str(uuid.uuid4()) for _ in inputs]))
            labels = outputs.labels if outputs.labels is not None else outputs.values or []
            probabilities = outputs.probabilities
            facts = [{**{k: columns[k][i] for k in columns}, **{f: body.records[i].get(f) for f in extra}}
                     for i in range(len(inputs))]
            models = [model_facts(labels[i], probabilities[i] if probabilities is not None else None,
                                  model.class_keys) for i in range(len(inputs))]
            decided = decider.decide(facts, models)
            if decisions is not None:
                decisions.append(model=name, version=model.version.version, ids=ids, decisions=decided,
                                 latency_ms=1000 * (time.perf_counter() - started))
            return {"model": name, "version": model.version.version,
                    "decisions": [{"id": i, **d.to_json()} for i, d in zip(ids, decided, strict=True)]}

        return JSONResponse(_json_ready(await run_in_threadpool(work)))

    return router


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
