"""Where alerts go: a log file (JSON lines), a webhook (JSON POST with retries and exponential backoff),
e-mail over SMTP. Each sink is a function ``(alert, its settings, workspace root) -> what happened``;
a failing sink never stops the others, and what each did is stored with the alert."""

from __future__ import annotations

import json
import logging
import os
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiforge.spec import EmailSink, LogSink, SinksSpec, WebhookSink

__all__ = ["SINKS", "deliver"]

log = logging.getLogger("aiforge.monitor")
BACKOFF_SECONDS = 0.5


def _to_log(alert: dict[str, Any], spec: LogSink, root: Path) -> str:
    path = Path(spec.path) if spec.path else root / "alerts.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(alert, sort_keys=True, default=str) + "\n")
    log.warning("alert %s: %s", alert["rule"], alert["message"])
    return f"sent: appended to {path}"


def _to_webhook(alert: dict[str, Any], spec: WebhookSink, root: Path) -> str:
    body = json.dumps(alert, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "aiforge-alerts"}
    if spec.token_env:
        token = os.environ.get(spec.token_env)
        if not token:
            return f"failed: the environment variable {spec.token_env} (token_env) is not set"
        headers["Authorization"] = f"Bearer {token}"
    problem = ""
    for attempt in range(spec.retries + 1):
        if attempt:
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
        request = urllib.request.Request(spec.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=spec.timeout_seconds) as response:  # noqa: S310 (http(s) only)
                return f"sent: HTTP {response.status} after {attempt + 1} attempt(s)"
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code}"
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                break  # the receiver refuses this alert: retrying will not help
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            problem = str(getattr(exc, "reason", exc))
    return f"failed: {problem} after {attempt + 1} attempt(s)"


def _to_email(alert: dict[str, Any], spec: EmailSink, root: Path) -> str:
    message = EmailMessage()
    message["Subject"] = f"[aiforge {alert['severity']}] {alert['model']} v{alert['version']}: {alert['rule']}"
    message["From"] = spec.sender
    message["To"] = ", ".join(spec.to)
    message.set_content(f"{alert['message']}\n\n{json.dumps(alert['details'], indent=2, default=str)}\n")
    try:
        with smtplib.SMTP(spec.host, spec.port, timeout=spec.timeout_seconds) as smtp:
            if spec.starttls:
                smtp.starttls()
            if spec.username_env:
                smtp.login(os.environ.get(spec.username_env, ""), os.environ.get(spec.password_env or "", ""))
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        return f"failed: {type(exc).__name__}: {exc}"
    return f"sent: to {', '.join(spec.to)}"


SINKS: dict[str, Callable[[dict[str, Any], Any, Path], str]] = {
    "log": _to_log, "webhook": _to_webhook, "email": _to_email,
}


def deliver(alert: dict[str, Any], names: list[str], sinks: SinksSpec, root: Path) -> dict[str, str]:
    """Send ``alert`` to each named sink; what happened, per sink."""
    outcome = {}
    for name in names:
        settings = getattr(sinks, name)
        try:
            outcome[name] = SINKS[name](alert, settings, root)
        except Exception as exc:  # a broken sink must not stop the others
            log.exception("alert sink %s failed", name)
            outcome[name] = f"failed: {type(exc).__name__}: {exc}"
    return outcome
