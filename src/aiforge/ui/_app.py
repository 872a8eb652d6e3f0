"""The dashboard's web application: routes, sessions, CSRF checks, error pages, static files.

A Starlette app, on its own (`aiforge ui`) or mounted under ``/ui`` in `aiforge serve` (``mount_ui``): the
served app's fast lane for predictions sits in front of everything and never sees these routes, so the
dashboard adds nothing to a prediction's path. Pages are rendered on the server with Jinja2; actions are plain
HTML forms (POST with the session's CSRF token); charts are drawn by the Plotly JS of the plotly package,
served from here. Library calls block, so handlers run them in the thread pool.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from aiforge.errors import AiforgeError
from aiforge.serve._auth import TokenBucket
from aiforge.ui import _pages as pages
from aiforge.ui._charts import lineage_svg
from aiforge.ui._session import COOKIE, LOGIN_COOKIE, Forbidden, Sessions, TooManyLogins, Viewer, load_secret
from aiforge.workspace import KeyStore, Role, Workspace, WorkspaceSettings

__all__ = ["UiSettings", "create_ui", "mount_ui"]

log = logging.getLogger("aiforge.ui")
HERE = Path(__file__).parent
STATIC = {"style.css": "text/css", "charts.js": "text/javascript"}
MAX_FORM = 16 * 1024
# Scripts only from the dashboard itself (Plotly sets inline styles on the figures it draws).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'")
# The run report is the run's own self-contained page: shown in a frame, its scripts never run.
REPORT_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"


@dataclass(frozen=True)
class UiSettings:
    """How the dashboard runs: its workspace; ``auth``: ``required`` (every page needs a login with an operator
    or admin key), ``off`` (pages open to anyone who can reach it, actions still need a login) or None: required
    when the workspace has an active key, as for `aiforge serve`; ``secure_cookies``: mark the session cookie
    ``Secure`` (served over HTTPS); ``login_rate`` and ``login_burst``: login attempts per second per client
    address, in bursts of up to ``login_burst`` (each attempt may cost a 16 MiB scrypt hash)."""

    workspace: WorkspaceSettings = field(default_factory=WorkspaceSettings.resolve)
    auth: str | None = None
    secure_cookies: bool = False
    session_hours: float = 8.0
    login_rate: float = 0.5
    login_burst: int = 10


class _Dashboard:
    """The state behind the routes: the workspace, the sessions and the templates."""

    def __init__(self, settings: UiSettings) -> None:
        import jinja2

        from aiforge import __version__
        from aiforge.serve._auth import resolve_auth

        if settings.auth not in ("required", "off", None):
            raise ValueError(f"The 'auth' setting must be 'required', 'off' or None. Got {settings.auth!r} instead.")
        self.settings = settings
        self.workspace = Workspace.open(settings.workspace, create=False)
        keys = KeyStore(self.workspace)
        mode, self.auth_reason = resolve_auth(keys, settings.auth)  # type: ignore[arg-type]
        self.sessions = Sessions(keys, load_secret(self.workspace.root), required=mode == "required",
                                 lifetime_seconds=settings.session_hours * 3600)
        self.templates = jinja2.Environment(loader=jinja2.PackageLoader("aiforge.ui", "templates"),
                                            autoescape=True, undefined=jinja2.StrictUndefined,
                                            trim_blocks=True, lstrip_blocks=True)
        self.templates.globals["aiforge_version"] = __version__
        self.templates.filters["num"] = _num
        self.templates.globals["lineage_svg"] = lineage_svg
        self.logins: dict[str, TokenBucket] = {}  # client address -> its login attempts
        # keys are checked on one thread of their own, as the server does (serve/_auth.py): scrypt's 16 MiB stay
        # in one arena, and a flood of logins waits its turn instead of taking every pool thread
        self.verifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aiforge-ui-keys")

    def may_try_login(self, address: str) -> float:
        """0 when ``address`` may try a login now, else the seconds until it may."""
        now = time.monotonic()
        bucket = self.logins.get(address)
        if bucket is None:
            if len(self.logins) > 10_000:
                self.logins.clear()
            burst = float(self.settings.login_burst)
            bucket = self.logins[address] = TokenBucket(self.settings.login_rate, burst, burst, now)
        return bucket.take(now)

    def render(self, request: Request, viewer: Viewer | None, template: str, context: dict[str, Any],
               status: int = 200) -> Response:
        base = request.scope.get("root_path", "")
        body = self.templates.get_template(template).render(
            base=base, viewer=viewer, path=request.url.path, required=self.sessions.required,
            done=request.query_params.get("done"), **context)
        return _secured(HTMLResponse(body, status_code=status))


def _num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "—"
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def _secured(response: Response, csp: str = CSP) -> Response:
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


Handler = Callable[[Request, Viewer], Awaitable[Response]]


def create_ui(settings: UiSettings | None = None) -> Starlette:
    """The dashboard over ``settings.workspace`` (which must exist), to serve on its own or to mount."""
    ui = _Dashboard(settings or UiSettings())

    def page(name: str, read: Callable[..., dict[str, Any]], *args: Callable[[Request], Any]) -> Handler:
        """A GET page: ``read(workspace, *args from the request)`` rendered with ``name``."""
        async def handler(request: Request, viewer: Viewer) -> Response:
            context = await run_in_threadpool(read, ui.workspace, *(arg(request) for arg in args))
            return ui.render(request, viewer, name, context)
        return handler

    def guarded(handler: Handler, role: Role | None = None) -> Callable[[Request], Awaitable[Response]]:
        """The viewer checked (a login when required; ``role`` for actions), the CSRF token of a POST, and
        an ``AiforgeError`` shown as a page that says what went wrong and what to do."""
        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            response = await checked(request)
            # the server's own time (session, library calls, rendering), for browsers' tools and benchmarks/ui
            response.headers["Server-Timing"] = f"app;dur={1000 * (time.perf_counter() - started):.2f}"
            return response

        async def checked(request: Request) -> Response:
            viewer = await run_in_threadpool(ui.sessions.viewer, request.cookies.get(COOKIE))
            if viewer is None or (role is not None and viewer.anonymous):
                return _to_login(request)
            try:
                if role is not None and not viewer.may(role):
                    raise Forbidden(f"this needs the '{role.value}' role; your key has '{viewer.role}'",
                                    hint="log in with a key of that role (aiforge keys create --role ...)")
                if request.method == "POST":
                    form = await _form(request)
                    if not viewer.csrf or not secrets.compare_digest(form.get("csrf", ""), viewer.csrf):
                        raise Forbidden("the form's CSRF token is missing or stale",
                                        hint="reload the page and submit the form again")
                    request.state.form = form
                return await handler(request, viewer)
            except AiforgeError as exc:
                return ui.render(request, viewer, "error.html", {"error": exc}, status=exc.http_status)
        return endpoint

    async def login_form(request: Request) -> Response:
        nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        response = ui.render(request, None, "login.html", {"token": ui.sessions.login_token(nonce),
                                                           "next": _next(request), "error": None})
        _cookie(response, request, LOGIN_COOKIE, nonce, ui.settings.secure_cookies, 3600)
        return response

    async def login(request: Request) -> Response:
        form = await _form(request)
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        error: AiforgeError | None = None
        wait = ui.may_try_login(request.client.host if request.client else "unknown")
        if wait > 0:
            error = TooManyLogins("too many login attempts from this address",
                                  hint=f"wait {math.ceil(wait)} s and try again")
        elif not nonce or not secrets.compare_digest(form.get("csrf", ""), ui.sessions.login_token(nonce)):
            error = Forbidden("the login form's token is missing or stale", hint="reload the page and log in again")
        else:
            try:
                _, cookie = await asyncio.get_running_loop().run_in_executor(ui.verifier, ui.sessions.login,
                                                                             form.get("key", ""))
            except AiforgeError as exc:
                error = exc
        if error is not None:
            nonce = secrets.token_urlsafe(24)
            response = ui.render(request, None, "login.html", {"token": ui.sessions.login_token(nonce),
                                                               "next": form.get("next", ""), "error": error},
                                 status=error.http_status)
            _cookie(response, request, LOGIN_COOKIE, nonce, ui.settings.secure_cookies, 3600)
            if isinstance(error, TooManyLogins):
                response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return response
        base = request.scope.get("root_path", "")
        target = form.get("next", "")
        local = target.startswith(base + "/") and not target.startswith(("//", "/\\"))  # never another site
        redirect = RedirectResponse(target if local else f"{base}/runs", status_code=303)
        _cookie(redirect, request, COOKIE, cookie, ui.settings.secure_cookies, int(ui.settings.session_hours * 3600))
        redirect.delete_cookie(LOGIN_COOKIE, path=_cookie_path(request))
        return _secured(redirect)

    async def logout(request: Request, viewer: Viewer) -> Response:
        redirect = RedirectResponse(f"{request.scope.get('root_path', '')}/login", status_code=303)
        redirect.delete_cookie(COOKIE, path=_cookie_path(request))
        return _secured(redirect)

    async def home(request: Request) -> Response:
        return RedirectResponse(f"{request.scope.get('root_path', '')}/runs", status_code=307)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.min.js":
            import plotly

            path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
            return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})
        if name not in STATIC:
            return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(HERE / "static" / name, media_type=STATIC[name], headers={"Cache-Control": "max-age=3600"})

    async def report(request: Request, viewer: Viewer) -> Response:
        body = await run_in_threadpool(pages.run_report, ui.workspace, request.path_params["run_id"])
        return _secured(HTMLResponse(body), REPORT_CSP)

    async def alias(request: Request, viewer: Viewer) -> Response:
        from aiforge.registry import Alias, ModelRegistry

        name, number = request.path_params["name"], int(request.path_params["version"])
        wanted = request.state.form.get("alias", "")
        try:
            to = Alias(wanted)
        except ValueError:
            raise AiforgeError("unknown alias", expected="staging, production or archived", found=wanted) from None
        await run_in_threadpool(ModelRegistry(ui.workspace).promote, name, number, to)
        log.info("%s gave %s v%d the alias %s", viewer.actor, name, number, to.value)
        return _back(request, f"/models/{quote(name)}/{number}", f"{name} v{number} is now {to.value}")

    async def deployment_action(request: Request, viewer: Viewer) -> Response:
        from aiforge.registry import DeploymentStore

        name, action = request.path_params["name"], request.path_params["action"]
        store = DeploymentStore(ui.workspace)
        reason = (request.state.form.get("reason") or f"{action} from the dashboard").strip()[:500]
        if action == "promote":
            done = await run_in_threadpool(lambda: store.promote(name, actor=viewer.actor, reason=reason))
            said = f"{name} v{done.challenger} is production; v{done.champion} is archived"
        else:
            done = await run_in_threadpool(lambda: store.rollback(name, actor=viewer.actor, reason=reason))
            said = f"rolled back {name} v{done.challenger}; v{done.champion} answers"
        return _back(request, f"/deployments/{quote(name)}", said)

    async def keys_page(request: Request, viewer: Viewer) -> Response:
        keys = await run_in_threadpool(ui.sessions.keys.list)
        return ui.render(request, viewer, "keys.html",
                         {"keys": keys, "created": None, "roles": [r.value for r in Role]})

    async def create_key(request: Request, viewer: Viewer) -> Response:
        form = request.state.form
        created = await run_in_threadpool(lambda: ui.sessions.keys.create(form.get("name", ""), form.get("role", ""),
                                                                          actor=viewer.actor))
        keys = await run_in_threadpool(ui.sessions.keys.list)
        return ui.render(request, viewer, "keys.html", {"keys": keys, "created": created,
                                                        "roles": [r.value for r in Role]}, status=201)

    async def revoke_key(request: Request, viewer: Viewer) -> Response:
        ident = request.path_params["ident"]
        await run_in_threadpool(lambda: ui.sessions.keys.revoke(ident, actor=viewer.actor))
        ui.sessions.forget(ident)
        return _back(request, "/keys", f"key {ident} is revoked")

    def number(key: str, default: int = 1) -> Callable[[Request], int]:
        def read(request: Request) -> int:
            raw = request.query_params.get(key) or request.path_params.get(key)
            try:
                return int(raw) if raw is not None else default
            except ValueError:
                raise AiforgeError(f"'{key}' must be a whole number", found=str(raw)) from None
        return read

    def text(key: str, default: str | None = None) -> Callable[[Request], Any]:
        return lambda request: (request.query_params.get(key) or request.path_params.get(key) or default)

    routes = [
        Route("/", home),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", guarded(logout), methods=["POST"]),
        Route("/static/{name}", static),
        Route("/runs", guarded(page("runs.html", pages.runs_page, number("page"), text("project")))),
        Route("/runs/{run_id}", guarded(page("run.html", pages.run_page, text("run_id")))),
        Route("/runs/{run_id}/report", guarded(report)),
        Route("/data", guarded(page("data.html", pages.data_page, number("page"), text("project")))),
        Route("/data/diff", guarded(page("diff.html", pages.diff_page, text("a", ""), text("b", "")))),
        Route("/data/{snapshot}", guarded(page("snapshot.html", pages.snapshot_page, text("snapshot")))),
        Route("/models", guarded(page("models.html", pages.models_page, number("page"), text("name")))),
        Route("/models/{name}/compare", guarded(page("compare.html", pages.compare_page, text("name"),
                                                     number("a"), number("b")))),
        Route("/models/{name}/{version:int}", guarded(page("model.html", pages.model_page, text("name"),
                                                           number("version")))),
        Route("/models/{name}/{version:int}/alias", guarded(alias, Role.OPERATOR), methods=["POST"]),
        Route("/deployments", guarded(page("deployments.html", pages.deployments_page))),
        Route("/deployments/{name}", guarded(page("deployment.html", pages.deployment_page, text("name")))),
        Route("/deployments/{name}/{action:str}", guarded(deployment_action, Role.OPERATOR), methods=["POST"]),
        Route("/monitoring", guarded(page("monitoring.html", pages.monitoring_page, text("name"),
                                          text("window", "7d"), text("every", "1d")))),
        Route("/monitoring/{name}", guarded(page("monitoring.html", pages.monitoring_page, text("name"),
                                                 text("window", "7d"), text("every", "1d")))),
        Route("/keys", guarded(keys_page, Role.ADMIN), methods=["GET"]),
        Route("/keys", guarded(create_key, Role.ADMIN), methods=["POST"]),
        Route("/keys/{ident}/revoke", guarded(revoke_key, Role.ADMIN), methods=["POST"]),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        ui.verifier.shutdown(wait=False)
        ui.workspace.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.dashboard = ui
    return app


def mount_ui(app: Any, settings: UiSettings, path: str = "/ui") -> None:
    """Mount the dashboard under ``path`` of ``app`` (the served FastAPI app of `aiforge serve`)."""
    app.mount(path, create_ui(settings), name="ui")


async def _form(request: Request) -> dict[str, str]:
    """An url-encoded form's fields (the first value of each); other bodies and oversized ones give nothing."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _next(request: Request) -> str:
    return request.query_params.get("next", "")


def _to_login(request: Request) -> Response:
    base = request.scope.get("root_path", "")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _secured(RedirectResponse(f"{base}/login?next={quote(target)}", status_code=303))


def _back(request: Request, path: str, message: str) -> Response:
    """After an action: back to its page (303: the browser GETs it), the outcome in the address."""
    return _secured(RedirectResponse(f"{request.scope.get('root_path', '')}{path}?done={quote(message)}",
                                     status_code=303))


def _cookie_path(request: Request) -> str:
    return request.scope.get("root_path", "") or "/"


def _cookie(response: Response, request: Request, name: str, value: str, secure: bool, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=_cookie_path(request), httponly=True, samesite="strict",
                        secure=secure or request.url.scheme == "https")
