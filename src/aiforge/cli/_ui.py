"""`aiforge ui`: the web dashboard on its own server (`aiforge serve` also mounts it under /ui)."""

from __future__ import annotations

import click

from aiforge.cli._common import handles_errors, settings

__all__ = ["ui"]


@click.command(epilog="""\b
Examples:
  aiforge ui                                  # http://127.0.0.1:8080
  aiforge ui --host 0.0.0.0 --port 8080 --auth required
  aiforge keys create --name alice --role operator   # a key to log in with
""")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (0.0.0.0: every interface; keep --auth required there).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--auth", type=click.Choice(["required", "off"]), default=None,
              help="required: every page needs a login with an operator or admin API key; off: pages are open "
              "read-only, actions still need a login. Default: required when the workspace has an active key.")
@click.option("--session-hours", default=8.0, show_default=True, type=click.FloatRange(0, min_open=True),
              help="How long a login lasts.")
@click.option("--ssl-certfile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Serve HTTPS with this certificate (PEM); needs --ssl-keyfile. The session cookie is then Secure.")
@click.option("--ssl-keyfile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The certificate's private key (PEM).")
@click.pass_context
@handles_errors
def ui(ctx: click.Context, host: str, port: int, auth: str | None, session_hours: float, ssl_certfile: str | None,
       ssl_keyfile: str | None) -> None:
    """Serve the web dashboard until stopped (Ctrl-C): runs, data snapshots, models, deployments and
    monitoring of the workspace, with promote and roll back for operators and key management for admins.

    Log in with an API key of the operator or admin role (a predict key is refused). The same dashboard
    is mounted under /ui by 'aiforge serve'.
    """
    import uvicorn

    from aiforge.cli._console import err
    from aiforge.ui import UiSettings, create_ui

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise click.UsageError("--ssl-certfile and --ssl-keyfile go together")
    app = create_ui(UiSettings(workspace=settings(ctx), auth=auth, secure_cookies=ssl_certfile is not None,
                               session_hours=session_hours))
    dashboard = app.state.dashboard
    if dashboard.sessions.required:
        err.print(f"login required ({dashboard.auth_reason})", highlight=False)
    else:
        err.print(f"WARNING: pages are open read-only to anyone who can reach {host}:{port} "
                  f"({dashboard.auth_reason}); actions need a login with an operator key",
                  style="bold yellow", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, ssl_certfile=ssl_certfile,
                ssl_keyfile=ssl_keyfile)
