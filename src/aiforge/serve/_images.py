"""Images over HTTP: ``/v1/models/{name}/predict/images`` takes image files, as base64 in JSON or as a
multipart upload, and answers like ``/v1 predict``.

A model trained on an ``images`` source takes the pixel columns ``pixel_{row}_{col}[_{channel}]``; their names
give the image's shape. Each image is decoded (Pillow: PNG, JPEG, BMP, GIF, TIFF, WebP), converted to grey or
RGB(A) as the model's channels say, refused when its size differs (never resized), and becomes one record of
pixel values: from there it takes the tabular route (validation, the version that answers, the prediction log).
These routes are beside the others: the fast lane of ``/v1 predict`` and ``/v2 infer`` does not see them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiforge.data._images import decode_image, image_shape
from aiforge.errors import AiforgeError
from aiforge.serve._models import ServedModel
from aiforge.serve._schema import FieldError, check_batch_size, invalid
from aiforge.serve._v1 import PredictResponse

__all__ = ["ImagesRequest", "image_router"]

ColumnsOf = Callable[[ServedModel], dict[str, list[Any]]]
AnswerColumns = Callable[[str, str | None, int, ColumnsOf], Awaitable[JSONResponse]]
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # one image file, decoded from base64 or uploaded


class ImagesRequest(BaseModel):
    """Images to predict, each an image file (PNG, JPEG, ...) encoded in base64."""

    model_config = ConfigDict(extra="forbid")

    images: list[str] = Field(min_length=1, description="Each image file's bytes in base64 (standard alphabet, "
                              "padded); the image must have the size the model was trained on.",
                              examples=[["iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAA..."]])


_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ImagesRequest.model_json_schema()},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["images"],
                "properties": {"images": {"type": "array", "items": {"type": "string", "format": "binary"},
                                          "description": "One or more image files (repeat the part)."}}}},
        },
    },
}


def image_router(answer_columns: AnswerColumns, max_batch: int, can_predict: list[Any],
                 errors: dict[int | str, dict[str, Any]]) -> APIRouter:
    """The image routes; ``answer_columns(name, version, size, columns_of)`` predicts and answers as
    ``/v1 predict`` does (rollouts, logging) from the columns ``columns_of(model)`` makes."""
    router = APIRouter(tags=["v1"], dependencies=can_predict)
    responses = errors

    async def predict(name: str, version: str | None, request: Request) -> JSONResponse:
        files = await _files(request, max_batch)

        def columns_of(model: ServedModel) -> dict[str, list[Any]]:
            return image_columns(model, files)

        return await answer_columns(name, version, len(files), columns_of)

    @router.post("/v1/models/{name}/predict/images", response_model=PredictResponse, responses=responses,
                 openapi_extra=_BODY)
    async def predict_images(name: str, request: Request) -> JSONResponse:
        """Predict images with the version that answers for NAME: JSON `{"images": [base64, ...]}` or a
        multipart upload of files in the part `images`. A record per image; the answer is `/v1 predict`'s."""
        return await predict(name, None, request)

    @router.post("/v1/models/{name}/versions/{version}/predict/images", response_model=PredictResponse,
                 responses=responses, openapi_extra=_BODY)
    async def predict_images_version(name: str, version: str, request: Request) -> JSONResponse:
        """Predict images with an explicit (accepted) version."""
        return await predict(name, version, request)

    return router


async def _files(request: Request, max_batch: int) -> list[bytes]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        try:
            form = await request.form(max_files=max_batch + 1, max_fields=max_batch + 1)
        except Exception as exc:  # starlette's MultiPartException, or a body cut short
            raise invalid([FieldError(None, "images", f"the multipart body cannot be read: {exc}")], "upload") \
                from exc
        try:
            parts = form.getlist("images")
            if not parts:
                raise invalid([FieldError(None, "images", "no file in the part 'images' (send each image file "
                                          "as a part named images)")], "upload")
            check_batch_size(len(parts), max_batch, "images")
            files = []
            for i, part in enumerate(parts):
                if isinstance(part, str):
                    raise invalid([FieldError(i, "images", "a text field, not a file: send the image as a file "
                                              "part (curl -F images=@shoe.png)")], "upload")
                data = await part.read()
                _check_size(i, len(data))
                files.append(data)
            return files
        finally:
            await form.close()
    if kind in ("application/json", ""):
        try:
            body = ImagesRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise invalid([FieldError(None, ".".join(str(p) for p in e["loc"]) or None, e["msg"])
                           for e in exc.errors()], "body") from exc
        check_batch_size(len(body.images), max_batch, "images")
        files = []
        for i, text in enumerate(body.images):
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise invalid([FieldError(i, "images", f"not base64: {exc}")], "images") from exc
            _check_size(i, len(data))
            files.append(data)
        return files
    raise invalid([FieldError(None, "Content-Type", f"{kind}: images come as application/json "
                              "({\"images\": [base64, ...]}) or as multipart/form-data (files in the part 'images')")],
                  "request")


def _check_size(i: int, size: int) -> None:
    if size > MAX_IMAGE_BYTES:
        raise invalid([FieldError(i, "images", f"{size} bytes: an image file may hold at most {MAX_IMAGE_BYTES}")],
                      "images")


def image_columns(model: ServedModel, files: list[bytes]) -> dict[str, list[Any]]:
    """The model's pixel columns from image files, one record per image; ``InvalidInput`` naming each image that
    cannot be decoded or has the wrong size."""
    import numpy as np

    names = model.schema.names
    shape = image_shape(names)
    if shape is None:
        raise invalid([FieldError(None, "images", f"model '{model.version.name}' v{model.version.version} was not "
                                  "trained on images (an images source): send records to /v1/models/{name}/predict")],
                      "request")
    rows, problems = [], []
    for i, data in enumerate(files):
        try:
            rows.append(decode_image(data, shape, f"image {i}").reshape(-1))
        except AiforgeError as exc:
            problems.append(FieldError(i, "images", f"{exc.message}: expected {exc.expected}, found {exc.found}"))
    if problems:
        raise invalid(problems, "images")
    pixels = np.stack(rows).astype(np.float64)
    return {name: pixels[:, j].tolist() for j, name in enumerate(names)}
