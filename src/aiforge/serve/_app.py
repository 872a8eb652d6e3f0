"""The HTTP application: Open Inference Protocol v2 and plain JSON routes over the model registry.

Errors are mapped to HTTP here and nowhere else: ``InvalidInput`` and every malformed body -> 422 with
field-level errors; other ``AiforgeError`` -> its ``http_status`` (unknown model or version: 404) with
the message, what was found and a hint.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from aiforge.errors import AiforgeError, RegistryError
from aiforge.monitor import PredictionLog
from aiforge.registry import DeploymentStore, ModelRegistry, OutcomeStore, VersionStatus, explain_version
from aiforge.serve._admin import UNAUTHORIZED, admin_router
from aiforge.serve._auth import Authenticator, resolve_auth
from aiforge.serve._decisions import decision_router
from aiforge.serve._deploy_routes import deployment_router
from aiforge.serve._fastlane import FastLane
from aiforge.serve._images import image_router
from aiforge.serve._metrics import Metrics, MetricsMiddleware
from aiforge.serve._models import ModelCache, Outputs, ServedModel, served_version
from aiforge.serve._nlp import nlp_router
from aiforge.serve._oip import (
    InferenceRequest,
    InferenceResponse,
    MetadataTensor,
    ModelMetadata,
    ServerMetadata,
    columns_from_tensors,
    metadata_tensors,
)
from aiforge.serve._rollout import INLINE_RECORDS, Rollouts, Tag, Work
from aiforge.serve._schema import FieldError, InvalidInput, invalid
from aiforge.serve._settings import ServeSettings
from aiforge.serve._v1 import (
    ErrorBody,
    ExplainRequest,
    ExplainResponse,
    FeedbackRequest,
    FeedbackResponse,
    ModelSummary,
    PredictRequest,
    PredictResponse,
    VersionSummary,
)
from aiforge.spec import TaskKind
from aiforge.workspace import KeyStore, Role, Workspace

__all__ = ["SETTINGS_VARIABLE", "app_from_environment", "create_app"]

RequestKey = Annotated[str | None, Header(max_length=256, description="Keeps a caller on one arm of an A/B "
                                         "test: requests with the same key get the same version.")]
SETTINGS_VARIABLE = "AIFORGE_SERVE_SETTINGS"  # how `aiforge serve --workers N` hands its settings to workers
log = logging.getLogger("aiforge.serve")
# How long a thread holding the GIL may keep a waiting one waiting (Python's default is 5 ms). The prediction
# log's writer builds a file in a background thread, mostly in Arrow calls that hold the GIL; at 5 ms a request
# arriving meanwhile waits up to 5 ms per switch. At 1,000 requests/s (2 workers, 3 rounds of 6 s, alternating,
# load 1.6-2.0) p99 was 4.4-146 ms (median 56) at 5 ms, 3.7-37 ms (median 7.8) at 0.5 ms, 1.0-1.7 ms with no log.
GIL_SWITCH_SECONDS = 0.0005

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such model or version, or none that may be served."},
    422: {"model": ErrorBody, "description": "The body is malformed or does not fit the training schema."},
    **UNAUTHORIZED,
}


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """The server for the models registered in ``settings.workspace`` (which must exist)."""
    from aiforge import __version__

    settings = settings or ServeSettings()
    workspace = Workspace.open(settings.workspace, create=False)
    cache = ModelCache(ModelRegistry(workspace), refresh_seconds=settings.refresh_seconds)
    deployments = DeploymentStore(workspace)
    rollouts = Rollouts(deployments, cache, refresh_seconds=settings.refresh_seconds)
    mode, why = resolve_auth(KeyStore(workspace), settings.auth)
    if mode == "off":
        log.warning("authentication is OFF (%s): anyone who can reach this server may predict", why)
    auth = Authenticator(workspace, mode=mode, cache_seconds=settings.key_cache_seconds,
                         rate_limit=settings.rate_limit)
    can_predict = [Depends(auth.requires(Role.PREDICT))]
    outcomes = OutcomeStore(workspace)

    predictions = PredictionLog(workspace.root / "predictions") if settings.log_predictions else None
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        switch = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        if settings.preload:
            await run_in_threadpool(_preload, cache, rollouts)
        app.state.ready = True
        yield
        sys.setswitchinterval(switch)
        await run_in_threadpool(rollouts.close)  # shadow copies in flight are predicted and logged
        if predictions is not None:  # graceful shutdown (SIGTERM too): what was answered is written
            await run_in_threadpool(predictions.close)
        workspace.close()

    def logged(model: ServedModel, columns: dict[str, list[Any]], outputs: Outputs, started: float,
               tag: Tag) -> list[str]:
        ids = tag.ids if tag.ids is not None else [str(uuid.uuid4()) for _ in range(len(outputs))]
        metrics.observe_predictions(model.version.name, model.version.version, len(ids), time.perf_counter() - started)
        if predictions is not None:
            predictions.append(model=model.version.name, version=model.version.version, ids=ids, columns=columns,
                               labels=outputs.labels, probabilities=outputs.probabilities, classes=model.class_keys,
                               values=outputs.values, latency_ms=1000 * (time.perf_counter() - started),
                               role=tag.role, deployment=tag.deployment, kinds=model.schema.kinds)
        return ids

    app = _ServedApp(
        title="aiforge", version=__version__, lifespan=lifespan,
        description="Predictions, explanations and metadata of the models in an aiforge workspace. "
        "`/v2`: the Open Inference Protocol (KServe v2); `/v1`: plain JSON records. A model name answers "
        "with its `production` version, else `staging`, else its newest accepted candidate; a version "
        "rejected by its KPI gate never answers.",
    )
    app.state.ready = False
    app.state.auth = auth
    templates: dict[str, Any] = {}  # filled once the routes exist
    app.fast_lane = FastLane(app.answer_slowly, lambda *a: lane(*a), templates, metrics)  # in front of everything
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    _add_error_handlers(app)
    app.include_router(admin_router(auth, cache))
    app.include_router(deployment_router(auth, deployments, rollouts), responses=UNAUTHORIZED)

    resolving: set[str] = set()  # names being re-resolved by one request right now

    async def served(name: str, version: str | None) -> ServedModel:
        hit = cache.fresh(name) if version is None else cache.loaded(name, version)
        if hit is not None:
            return hit
        if version is None:
            last = cache.last(name)
            if last is not None and name in resolving:
                return last  # one request re-reads the registry; the others keep the version that answered
            resolving.add(name)
            try:
                return await run_in_threadpool(cache.serving, name)
            finally:
                resolving.discard(name)
        return await run_in_threadpool(cache.version, name, version)

    def worker(columns_of: Callable[[ServedModel], dict[str, list[Any]]],
               body_of: Callable[[ServedModel, Outputs, list[str]], dict[str, Any]]) -> Work:
        """A request's work for any model: validate its input into columns, predict, log, render."""
        def work(model: ServedModel, tag: Tag) -> Callable[[], tuple[dict[str, Any], list[str]]]:
            def run() -> tuple[dict[str, Any], list[str]]:
                started = time.perf_counter()
                columns = columns_of(model)
                outputs = model.predict_columns(columns)
                ids = logged(model, columns, outputs, started, tag)
                return body_of(model, outputs, ids), ids
            return run
        return work

    async def answer(name: str, version: str | None, size: int, work: Work, key: str | None) -> JSONResponse:
        """The response from the version that answers: an explicit one, else the arm of an active deployment
        the request falls in, else the served version."""
        if version is None:
            deployment = await rollouts.current(name)
            if deployment is not None:
                return JSONResponse(await rollouts.answer(deployment, size, work, key))
        run = work(await served(name, version), Tag())
        body, _ = run() if size <= INLINE_RECORDS else await run_in_threadpool(run)
        return JSONResponse(body)

    # -- Open Inference Protocol v2 --------------------------------------------------------------

    @app.get("/v2", response_model=ServerMetadata, tags=["v2"], dependencies=can_predict)
    def server_metadata() -> ServerMetadata:
        return ServerMetadata(name="aiforge", version=__version__, extensions=[])

    @app.get("/metrics", tags=["monitoring"], dependencies=can_predict, response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        """Prometheus metrics: requests by route and status, latency histograms, predictions per model version."""
        return PlainTextResponse(metrics.render(rollouts.metrics_lines()), media_type="text/plain; version=0.0.4")

    @app.get("/v2/health/live", tags=["v2"])
    def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready", tags=["v2"], responses={503: {"description": "Still loading the models."}})
    def ready(request: Request) -> JSONResponse:
        is_ready = bool(request.app.state.ready)
        return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)

    @app.get("/v2/models/{name}", response_model=ModelMetadata, responses=ERRORS, tags=["v2"],
             response_model_exclude_none=True, dependencies=can_predict)
    async def model_metadata(name: str) -> ModelMetadata:
        return _metadata(await served(name, None), cache)

    @app.get("/v2/models/{name}/versions/{version}", response_model=ModelMetadata, responses=ERRORS, tags=["v2"],
             response_model_exclude_none=True, dependencies=can_predict)
    async def version_metadata(name: str, version: str) -> ModelMetadata:
        return _metadata(await served(name, version), cache)

    @app.get("/v2/models/{name}/ready", tags=["v2"], responses=ERRORS, dependencies=can_predict)
    async def model_ready(name: str) -> dict[str, Any]:
        return {"name": name, "ready": (await served(name, None)) is not None}

    async def infer(name: str, version: str | None, body: InferenceRequest, key: str | None = None) -> JSONResponse:
        work = worker(lambda m: columns_from_tensors(m.schema, body.inputs, max_records=settings.max_batch),
                      lambda m, outputs, ids: _infer_body(m, outputs, body, ids))
        return await answer(name, version, len(body.inputs[0].data), work, key)

    @app.post("/v2/models/{name}/infer", response_model=InferenceResponse, responses=ERRORS, tags=["v2"],
              dependencies=can_predict)
    async def infer_served(name: str, body: InferenceRequest, x_request_key: RequestKey = None) -> JSONResponse:
        return await infer(name, None, body, x_request_key)

    @app.post("/v2/models/{name}/versions/{version}/infer", response_model=InferenceResponse, responses=ERRORS,
              tags=["v2"], dependencies=can_predict)
    async def infer_version(name: str, version: str, body: InferenceRequest) -> JSONResponse:
        return await infer(name, version, body)

    # -- plain JSON -----------------------------------------------------------------------------

    @app.get("/v1/models", response_model=list[ModelSummary], tags=["v1"], dependencies=can_predict)
    async def list_models() -> list[ModelSummary]:
        return await run_in_threadpool(_summaries, cache)

    async def predict(name: str, version: str | None, body: PredictRequest, key: str | None = None) -> JSONResponse:
        work = worker(lambda m: m.schema.columns_from_records(body.records, max_records=settings.max_batch),
                      _predict_body)
        return await answer(name, version, len(body.records), work, key)

    @app.post("/v1/models/{name}/predict", response_model=PredictResponse, responses=ERRORS, tags=["v1"],
              dependencies=can_predict)
    async def predict_served(name: str, body: PredictRequest, x_request_key: RequestKey = None) -> JSONResponse:
        """Predict each record with the version that answers for NAME: while a deployment of NAME is
        active, the champion or the challenger (canary and A/B; `X-Request-Key` keeps a caller on one
        arm of an A/B test)."""
        return await predict(name, None, body, x_request_key)

    async def lane(kind: str, name: str, payload: Any, headers: dict[str, str]) -> Response | None:
        """The fast lane (``_fastlane.py``): a plain, authorised request to a hot route, answered without
        FastAPI's routing; None hands it to FastAPI."""
        if not auth.verified(_presented_key(headers), Role.PREDICT):
            return None
        key = headers.get("x-request-key")
        if key is not None and len(key) > 256:
            return None
        try:
            if kind == "v1":
                records = payload.get("records") if type(payload) is dict and len(payload) == 1 else None
                if type(records) is not list or not records or not all(type(r) is dict for r in records):
                    return None
                return await predict(name, None, PredictRequest.model_construct(records=records), key)
            try:
                tensors = InferenceRequest.model_validate(payload)
            except ValidationError:
                return None
            return await infer(name, None, tensors, key)
        except AiforgeError as exc:
            return _error_response(exc)
        except Exception as exc:  # the same answer as the documented route's
            return _unexpected_response("POST", f"/{kind}/models/{name}", exc)

    for route in app.routes:
        if getattr(route, "path", None) == "/v1/models/{name}/predict":
            templates["v1"] = route
        elif getattr(route, "path", None) == "/v2/models/{name}/infer":
            templates["v2"] = route

    @app.post("/v1/models/{name}/feedback", response_model=FeedbackResponse, responses=ERRORS, tags=["v1"],
              dependencies=can_predict)
    async def feedback(name: str, body: FeedbackRequest) -> FeedbackResponse:
        """Record the observed outcome of earlier predictions, by the prediction ids the server returned
        (the true label, or a business outcome such as a conversion): A/B tests compare them per arm."""
        pairs = [(o.id, o.outcome) for o in body.outcomes]
        if not await run_in_threadpool(cache.registry.versions, name):
            raise RegistryError(f"no model named '{name}'", hint="GET /v1/models lists the models of this server")
        stored = await run_in_threadpool(outcomes.record, name, pairs)
        return FeedbackResponse(stored=stored)

    @app.post("/v1/models/{name}/versions/{version}/predict", response_model=PredictResponse, responses=ERRORS,
              tags=["v1"], dependencies=can_predict)
    async def predict_version(name: str, version: str, body: PredictRequest) -> JSONResponse:
        """Predict each record with an explicit (accepted) version."""
        return await predict(name, version, body)

    async def explain(name: str, version: str | None, body: ExplainRequest) -> JSONResponse:
        model = await served(name, version)

        def work() -> dict[str, Any]:
            columns = model.schema.columns_from_records(body.records, max_records=settings.max_explain)
            frame = model.schema.frame(columns)
            return _json_ready(explain_version(cache.registry, model.version, frame, top=body.top))

        return JSONResponse(await run_in_threadpool(work))

    @app.post("/v1/models/{name}/explain", response_model=ExplainResponse, responses=ERRORS, tags=["v1"],
              dependencies=can_predict)
    async def explain_served(name: str, body: ExplainRequest) -> JSONResponse:
        """Each input column's contribution to the output for each record: base + contributions = output
        (exact tree SHAP for tree ensembles; a sampling estimate against stored training rows otherwise)."""
        return await explain(name, None, body)

    @app.post("/v1/models/{name}/versions/{version}/explain", response_model=ExplainResponse, responses=ERRORS,
              tags=["v1"], dependencies=can_predict)
    async def explain_version_route(name: str, version: str, body: ExplainRequest) -> JSONResponse:
        """Explain the records with an explicit (accepted) version."""
        return await explain(name, version, body)

    app.include_router(decision_router(cache.registry, served, logged, workspace.root / "decisions" if
                                       settings.log_predictions else None, settings.max_batch, can_predict, ERRORS))
    async def answer_columns(name: str, version: str | None, size: int,
                             columns_of: Callable[[ServedModel], dict[str, list[Any]]]) -> JSONResponse:
        return await answer(name, version, size, worker(columns_of, _predict_body), None)

    app.include_router(image_router(answer_columns, settings.max_batch, can_predict, ERRORS))
    app.include_router(nlp_router(settings.nlp_model, settings.max_batch, can_predict, ERRORS))
    return app


class _ServedApp(FastAPI):
    """The server's FastAPI app with the fast lane in front of its middleware stack (``serve/_fastlane.py``)."""

    fast_lane: FastLane | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.fast_lane is not None:
            await self.fast_lane(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def answer_slowly(self, scope: Any, receive: Any, send: Any) -> None:
        """FastAPI's own answer: routing, dependencies, middlewares."""
        await super().__call__(scope, receive, send)


def app_from_environment() -> FastAPI:
    """The app of one worker of `aiforge serve --workers N` (uvicorn's factory)."""
    return create_app(ServeSettings.from_json(os.environ[SETTINGS_VARIABLE]))


def _preload(cache: ModelCache, rollouts: Rollouts) -> None:
    rollouts.refresh()
    for deployment in rollouts.active_deployments():
        for number in (deployment.champion, deployment.challenger):
            try:
                cache.version(deployment.name, str(number))
            except AiforgeError as exc:
                log.warning("deployment %s: not loading v%d: %s", deployment.id, number, exc.message)
    for name in cache.names():
        try:
            cache.serving(name)
        except AiforgeError as exc:  # a model no version of which may answer: its requests get the 404
            log.warning("not serving %s: %s", name, exc.message)


def _predict_body(model: ServedModel, outputs: Outputs, ids: list[str]) -> dict[str, Any]:
    if outputs.generated:
        assert outputs.labels is not None
        predictions = [{"id": i, "text": text} for i, text in zip(ids, outputs.labels, strict=True)]
    elif outputs.values is not None:
        predictions = [{"id": i, "value": v} for i, v in zip(ids, outputs.values, strict=True)]
    else:
        assert outputs.labels is not None and outputs.probabilities is not None
        keys = model.class_keys
        predictions = [{"id": i, "label": label, "probabilities": dict(zip(keys, row, strict=True))}
                       for i, label, row in zip(ids, outputs.labels, outputs.probabilities.tolist(), strict=True)]
    return {"model": model.version.name, "version": model.version.version, "predictions": predictions}


def _infer_body(model: ServedModel, outputs: Outputs, request: InferenceRequest, ids: list[str]) -> dict[str, Any]:
    n = len(outputs)
    tensors: dict[str, dict[str, Any]] = {}
    if outputs.generated:
        tensors["text"] = {"name": "text", "shape": [n], "datatype": "BYTES", "data": outputs.labels}
    elif outputs.values is not None:
        tensors["value"] = {"name": "value", "shape": [n], "datatype": "FP64", "data": outputs.values}
    else:
        assert outputs.labels is not None and outputs.probabilities is not None
        tensors["label"] = {"name": "label", "shape": [n], "datatype": _label_datatype(model.classes),
                            "data": outputs.labels}
        tensors["probability"] = {"name": "probability", "shape": [n, len(model.classes)], "datatype": "FP64",
                                  "data": outputs.probabilities.ravel().tolist(),
                                  "parameters": {"classes": list(model.classes)}}
    wanted = [o.name for o in request.outputs] if request.outputs else list(tensors)
    unknown = [w for w in wanted if w not in tensors]
    if unknown:
        raise invalid([FieldError(None, w, f"not an output of the model (outputs: {', '.join(tensors)})")
                       for w in unknown], "requested outputs")
    return {"model_name": model.version.name, "model_version": str(model.version.version), "id": request.id,
            "parameters": {"prediction_ids": ids},
            "outputs": [tensors[w] for w in wanted]}


def _label_datatype(classes: tuple[Any, ...]) -> str:
    if classes and all(type(c) is bool for c in classes):
        return "BOOL"
    if classes and all(type(c) is int for c in classes):
        return "INT64"
    return "BYTES"


def _metadata(model: ServedModel, cache: ModelCache) -> ModelMetadata:
    versions = cache.registry.versions(model.version.name)
    if model.task is TaskKind.REGRESSION:
        outputs = [MetadataTensor(name="value", datatype="FP64", shape=[-1])]
    elif model.task.is_generation:
        outputs = [MetadataTensor(name="text", datatype="BYTES", shape=[-1])]
    else:
        outputs = [MetadataTensor(name="label", datatype=_label_datatype(model.classes), shape=[-1]),
                   MetadataTensor(name="probability", datatype="FP64", shape=[-1, len(model.classes)],
                                  parameters={"classes": list(model.classes)})]
    return ModelMetadata(
        name=model.version.name, platform=f"aiforge_{model.version.learner}",
        versions=[str(v.version) for v in versions if v.status is VersionStatus.ACCEPTED],
        inputs=metadata_tensors(model.schema), outputs=outputs,
        parameters={"version": str(model.version.version), "task": model.task.value,
                    "alias": model.version.alias.value if model.version.alias else None,
                    "learner": model.version.learner, "classes": list(model.classes)},
    )


def _summaries(cache: ModelCache) -> list[ModelSummary]:
    by_name: dict[str, list[Any]] = {}
    for v in cache.registry.versions():
        by_name.setdefault(v.name, []).append(v)
    summaries = []
    for name, versions in sorted(by_name.items()):
        chosen = served_version(versions)
        summaries.append(ModelSummary(
            name=name, served_version=chosen.version if chosen else None,
            versions=[VersionSummary(version=v.version, status=v.status.value,
                                     alias=v.alias.value if v.alias else None, learner=v.learner,
                                     created_at=v.created_at.isoformat()) for v in versions],
        ))
    return summaries


def _json_ready(value: Any) -> Any:
    """Plain JSON values (numpy scalars -> Python, NaN -> null)."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InvalidInput)
    async def invalid_input(request: Request, exc: InvalidInput) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(AiforgeError)
    async def aiforge_error(request: Request, exc: AiforgeError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_field_error(e) for e in exc.errors()] or [FieldError(None, None, "the body is not valid")]
        return JSONResponse(invalid(errors, "body").body(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not read the body (bad encoding, nesting too deep)
            error = FieldError(None, None, f"malformed JSON: {exc.detail}")
            return JSONResponse(invalid([error], "body").body(), status_code=422)
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _unexpected_response(request.method, request.url.path, exc)


def _error_response(exc: AiforgeError) -> JSONResponse:
    """How an error aiforge raised on purpose is answered (invalid input: 422 with field-level errors)."""
    if isinstance(exc, InvalidInput):
        return JSONResponse(exc.body(), status_code=422)
    return JSONResponse({"error": exc.message, **exc.to_dict()}, status_code=exc.http_status)


def _unexpected_response(method: str, path: str, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", method, path, exc_info=exc)
    return JSONResponse({"error": f"internal error ({type(exc).__name__}); the server log has the details"},
                        status_code=500)


def _field_error(error: Any) -> FieldError:
    """A pydantic/FastAPI validation error as a field error: ``("body", "records", 3, "age")`` is
    record 3, field ``age``."""
    loc = [p for p in error.get("loc", ()) if p != "body"]
    if error.get("type") == "json_invalid":
        detail = (error.get("ctx") or {}).get("error", error.get("msg", ""))
        at = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
        return FieldError(None, None, f"malformed JSON: {detail}{at}")
    record = None
    if len(loc) >= 2 and loc[0] in ("records", "inputs") and isinstance(loc[1], int):
        record = loc[1] if loc[0] == "records" else None
        field = ".".join(map(str, loc[2:] if loc[0] == "records" else loc)) or None
    else:
        field = ".".join(map(str, loc)) or None
    message = str(error.get("msg", "invalid"))
    if record is not None and field is None and error.get("type") == "dict_type":
        message = "a record must be a JSON object keyed by input column"
    return FieldError(record, field, message)


def _presented_key(headers: dict[str, str]) -> str | None:
    """The API key as the auth dependency reads it: ``Authorization: Bearer``, else ``X-API-Key``."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key") or None
