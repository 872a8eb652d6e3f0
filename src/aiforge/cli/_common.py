"""What every command shares: the workspace settings, error rendering, the --json option, the actor."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from aiforge.errors import AiforgeError

__all__ = ["accept_schema_change_option", "cli_actor", "handles_errors", "json_option", "new_pseudonym_key_option",
           "settings"]

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
accept_schema_change_option = click.option(
    "--accept-schema-change", is_flag=True, help="Go on when a source's columns changed since the last snapshot (a "
    "column gone or holding another kind of values); the new snapshot records the new columns.")
new_pseudonym_key_option = click.option(
    "--new-pseudonym-key", is_flag=True, help="data.pii's pseudonymisation key was replaced on purpose: go on although "
    "it is not the key of the last snapshot (every token changes).")


def settings(ctx: click.Context) -> Any:
    from aiforge.workspace import WorkspaceSettings

    return WorkspaceSettings.resolve(ctx.obj.get("workspace"), artifacts_url=ctx.obj.get("artifacts_url"))


def handles_errors(fn: F) -> F:
    """Map AiforgeError to its exit code and a rendered message (JSON with --json)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AiforgeError as exc:
            if kwargs.get("as_json"):
                from aiforge.cli._console import print_json

                print_json({"error": exc.to_dict()})
            else:
                from aiforge.cli._console import err

                err.print(exc.render(), markup=False, highlight=False, style="red")
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def cli_actor() -> str:
    """How the person at the terminal is named in the audit log."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (some containers)
        return f"cli:uid-{os.getuid()}" if hasattr(os, "getuid") else "cli:unknown"
