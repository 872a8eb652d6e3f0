"""The web dashboard: server-rendered pages over the same library calls as the CLI (runs, data, models,
deployments, monitoring), on its own (`aiforge ui`) or mounted under ``/ui`` in `aiforge serve`."""

from aiforge.ui._app import UiSettings, create_ui, mount_ui

__all__ = ["UiSettings", "create_ui", "mount_ui"]
