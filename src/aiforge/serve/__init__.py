"""The HTTP server: Open Inference Protocol v2 and plain JSON predictions over the model registry."""

from aiforge.serve._app import create_app
from aiforge.serve._models import ModelCache, ServedModel, served_version
from aiforge.serve._schema import FieldError, FieldKind, InputField, InputSchema, InvalidInput
from aiforge.serve._settings import ServeSettings

__all__ = [
    "FieldError",
    "FieldKind",
    "InputField",
    "InputSchema",
    "InvalidInput",
    "ModelCache",
    "ServeSettings",
    "ServedModel",
    "create_app",
    "served_version",
]
