"""The served app of `aiforge serve` with the dashboard mounted under ``/ui`` (one process or each worker)."""

from __future__ import annotations

import os
from typing import Any

from aiforge.serve import ServeSettings, create_app
from aiforge.serve._app import SETTINGS_VARIABLE
from aiforge.ui._app import UiSettings, mount_ui

__all__ = ["SERVED_APP_FACTORY", "served_app", "served_app_from_environment"]

SERVED_APP_FACTORY = "aiforge.ui._served:served_app_from_environment"  # for serve_workers(app_factory=...)


def served_app(settings: ServeSettings) -> Any:
    """``serve.create_app(settings)`` with the dashboard under ``/ui``, logging in as the server does: required
    when the server requires keys, else pages open read-only. The fast lane for predictions stays in front."""
    app = create_app(settings)
    mount_ui(app, UiSettings(workspace=settings.workspace, auth=settings.auth))
    return app


def served_app_from_environment() -> Any:
    """The app of one worker of `aiforge serve --workers N` (uvicorn's factory), dashboard included."""
    return served_app(ServeSettings.from_json(os.environ[SETTINGS_VARIABLE]))
