"""Where the work runs: this machine's threads (``local``) or a Ray cluster (``ray``).

The project file's ``workspace:`` section names the executor; ``AIFORGE_EXECUTOR`` and
``AIFORGE_RAY_ADDRESS`` (read into ``WorkspaceSettings``) override it, so that the same project file
runs on a laptop and on a cluster. Ray is imported only when the ray executor is used.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aiforge.errors import MissingDependency, WorkspaceError

if TYPE_CHECKING:
    from aiforge.workspace._workspace import WorkspaceSettings

__all__ = ["EXECUTORS", "Executor", "ExecutorError", "connect_ray"]

EXECUTORS = ("local", "ray")


class ExecutorError(WorkspaceError):
    """The executor named is unknown, or its cluster cannot be reached."""

    code = "executor"


@dataclass(frozen=True)
class Executor:
    """The executor chosen: ``kind`` and, for Ray, the cluster and how trials are spread over it.

    >>> Executor().is_ray
    False
    """

    kind: Literal["local", "ray"] = "local"
    address: str | None = None  # None: RAY_ADDRESS if set, else a Ray started in this process
    trials_in_flight: int | None = None  # ray: trials asked at once (None: the cluster's CPUs / folds)
    cpus_per_task: float = 1.0

    @property
    def is_ray(self) -> bool:
        return self.kind == "ray"

    @classmethod
    def choose(cls, settings: WorkspaceSettings, kind: str = "local", address: str | None = None,
               trials_in_flight: int | None = None, cpus_per_task: float = 1.0) -> Executor:
        """The executor of a project file's ``workspace:`` fields, with the environment's settings over them."""
        chosen = settings.executor or kind
        if chosen not in EXECUTORS:
            raise ExecutorError(f"unknown executor {chosen!r}", where="AIFORGE_EXECUTOR",
                                expected=" or ".join(EXECUTORS), found=chosen,
                                hint="unset AIFORGE_EXECUTOR, or set it to local or ray")
        address = settings.ray_address or address
        return cls("ray" if chosen == "ray" else "local", address if chosen == "ray" else None,
                   trials_in_flight, cpus_per_task)

    def describe(self) -> str:
        if not self.is_ray:
            return "local threads"
        return f"Ray at {self.address or 'a local Ray'}"


def connect_ray(address: str | None) -> Any:
    """The ``ray`` module, connected to the cluster at ``address`` (once per process; later calls reuse it).

    ``None`` connects to ``RAY_ADDRESS`` when set, else starts Ray in this process; ``local`` always starts
    one; ``auto``, ``host:port`` and ``ray://host:port`` join a running cluster.
    """
    try:
        import ray
    except ImportError as exc:
        raise MissingDependency("the ray executor needs Ray, which is not installed",
                                hint="pip install 'aiforge[ray]' (on the driver and every node of the cluster), "
                                "or set workspace.executor: local") from exc
    if ray.is_initialized():
        return ray
    _check_reachable(address)
    try:
        ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise _unreachable(f"cannot reach the Ray cluster at {address}", f"{type(exc).__name__}: {exc}") from exc
    return ray


def _unreachable(message: str, found: str) -> ExecutorError:
    return ExecutorError(message, where="workspace.address / AIFORGE_RAY_ADDRESS",
                         expected="a running Ray head: host:port (its GCS port, 6379 by default), ray://host:10001, "
                         "or auto", found=found[:300],
                         hint="start the head with 'ray start --head' (and workers with 'ray start --address "
                         "HEAD:PORT'), or use executor: local")


def _check_reachable(address: str | None) -> None:
    """Fail at once when nothing listens at a host:port address (Ray itself retries for minutes)."""
    if address is None or address in ("local", "auto"):
        return
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise _unreachable(f"{address!r} is not a Ray address", address)
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as exc:
        raise _unreachable(f"cannot reach the Ray cluster at {address}", f"{type(exc).__name__}: {exc}") from exc
