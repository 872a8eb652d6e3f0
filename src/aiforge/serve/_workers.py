"""`aiforge serve --workers N`: N server processes, each accepting on its own socket.

On one shared listening socket (uvicorn's ``workers=``) whichever process wakes first accepts every
connection then waiting, so keep-alive connections opened together can all land on one worker, which
queues while the others idle (31 of 32 once). Here each worker binds its own socket to the same address
with ``SO_REUSEPORT`` and the kernel hashes every new connection to one of the listening sockets: the
connections spread evenly. A worker's socket listens only once its app has started (models loaded), and
a worker that dies takes its socket out of the group, so connections go to the workers that can answer.

The supervisor (the ``aiforge serve`` process) holds the port with a bound, never listening socket (so
no other program can take it while workers restart), forwards SIGTERM and SIGINT to the workers once
(each then shuts down gracefully: the prediction log is flushed), restarts a worker that dies (at most
``RESTART_LIMIT`` times in ``RESTART_WINDOW_SECONDS``, then it stops them all and fails), and fails with
an error naming the address when the port is taken or a worker cannot start. Where ``SO_REUSEPORT`` is
missing it falls back to uvicorn's shared socket.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from types import FrameType
from typing import Any

import uvicorn

from aiforge.errors import AiforgeError

__all__ = ["APP_FACTORY", "RESTART_LIMIT", "RESTART_WINDOW_SECONDS", "own_sockets_available", "serve_workers"]

APP_FACTORY = "aiforge.serve._app:app_from_environment"  # settings come in aiforge.serve._app.SETTINGS_VARIABLE
RESTART_LIMIT = 5  # worker deaths tolerated within RESTART_WINDOW_SECONDS; one more stops the server
RESTART_WINDOW_SECONDS = 60.0
log = logging.getLogger("uvicorn.error")  # the supervisor's lines read like the workers' (uvicorn's format)
_spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or sockets inherited


def own_sockets_available() -> bool:
    """Whether each worker can listen on its own socket (Linux, and other systems with ``SO_REUSEPORT``)."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def serve_workers(workers: int, *, host: str, port: int, shared_socket: bool = False,
                  app_factory: str = APP_FACTORY, **options: Any) -> None:
    """Serve ``app_factory`` (``module:function``, default ``APP_FACTORY``; the CLI's with the dashboard mounted)
    from ``workers`` processes until SIGTERM or SIGINT; ``options`` are uvicorn's (``ssl_certfile``,
    ``access_log``, ...). ``shared_socket`` (or no ``SO_REUSEPORT``): uvicorn's own
    workers on one socket. Raises ``AiforgeError`` when the port is taken or the workers cannot run."""
    if shared_socket or not own_sockets_available():
        uvicorn.run(app_factory, factory=True, host=host, port=port, workers=workers, **options)
        return
    uvicorn.Config(app_factory, factory=True, host=host, port=port, **options)  # checks options, sets up logging
    holder = _hold_port(host, port)
    try:
        _Supervisor(workers, host, holder.getsockname()[1], options, app_factory).run()
    finally:
        holder.close()


def _socket(host: str, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restart over TIME_WAIT connections
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def _hold_port(host: str, port: int) -> socket.socket:
    """A bound, not listening ``SO_REUSEPORT`` socket on ``host:port``, after checking with a plain bind
    that nothing else is on it (another server's ``SO_REUSEPORT`` sockets would otherwise let ours join
    their group silently). It receives no connections (it never listens), and while it is open only
    ``SO_REUSEPORT`` sockets of this user can bind there: our workers."""
    probe, holder = _socket(host, reuse_port=False), _socket(host, reuse_port=True)
    try:
        probe.bind((host, port))
        port = probe.getsockname()[1]  # --port 0: the free port the system picked, for every worker
        probe.close()
        holder.bind((host, port))
    except OSError as exc:
        probe.close()
        holder.close()
        taken = exc.errno == errno.EADDRINUSE
        raise AiforgeError(
            f"Cannot listen on {host}:{port}: {'the port is in use' if taken else exc.strerror or exc}.",
            where=f"--host {host} --port {port}",
            hint="Another program (another 'aiforge serve'?) holds that port: stop it, or pick another port with "
            "--port." if taken else "Check --host: it must name an address of this machine.") from exc
    return holder


@dataclass
class _Worker:
    index: int
    process: SpawnProcess
    ready: Connection  # the worker sends its pid on it once its socket listens
    started: bool = False


@dataclass
class _Supervisor:
    workers: int
    host: str
    port: int
    options: dict[str, Any]
    app_factory: str = APP_FACTORY
    slots: list[_Worker] = field(default_factory=list)
    deaths: deque[float] = field(default_factory=deque)
    signals: list[int] = field(default_factory=list)

    def run(self) -> None:
        log.info("Started parent process [%d]", os.getpid())
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.slots = [self._start(i) for i in range(self.workers)]
            self._supervise()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("Stopping parent process [%d]", os.getpid())

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.signals.append(sig)

    def _start(self, index: int) -> _Worker:
        ready, tell = _spawn.Pipe(duplex=False)
        process = _spawn.Process(target=_worker_main, name=f"aiforge-serve-worker-{index + 1}",
                                 args=(index, self.workers, self.host, self.port, self.options, tell, os.getpid(),
                                       self.app_factory))
        process.start()
        tell.close()
        return _Worker(index, process, ready)

    def _supervise(self) -> None:
        announced = False
        while True:
            if self.signals:
                return
            for slot in self.slots:
                if not slot.started and slot.ready.poll():
                    try:
                        slot.started = bool(slot.ready.recv())
                    except EOFError:  # it ended before it listened: see below
                        pass
                if slot.process.is_alive():
                    continue
                slot.process.join()
                code = slot.process.exitcode
                how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                if not announced and not slot.started:
                    raise AiforgeError(f"Worker {slot.index + 1} of {self.workers} could not start ({how}).",
                                       hint="Its messages are above; 'aiforge serve --workers 1' shows the same "
                                       "problem in one process.")
                now = time.monotonic()
                self.deaths.append(now)
                while self.deaths and self.deaths[0] < now - RESTART_WINDOW_SECONDS:
                    self.deaths.popleft()
                if len(self.deaths) > RESTART_LIMIT:
                    raise AiforgeError(f"Workers died {len(self.deaths)} times in {RESTART_WINDOW_SECONDS:.0f} s "
                                       f"(the last, worker {slot.index + 1} [{slot.process.pid}], with {how}): "
                                       "stopping the server.", hint="The workers' messages above say why.")
                log.warning("Worker %d [%d] died (%s): starting another", slot.index + 1, slot.process.pid, how)
                self.slots[slot.index] = self._start(slot.index)
            if not announced and all(s.started for s in self.slots):
                announced = True
                scheme = "https" if self.options.get("ssl_certfile") else "http"
                host = f"[{self.host}]" if ":" in self.host else self.host
                log.info("Uvicorn running on %s://%s:%d with %d workers, one socket each (Press CTRL+C to quit)",
                         scheme, host, self.port, self.workers)
            wait([s.process.sentinel for s in self.slots] + [s.ready for s in self.slots if not s.started],
                 timeout=0.2)

    def _stop_all(self) -> None:
        """Forward the stop to every worker once (SIGTERM: a graceful shutdown) and wait for them; a further
        signal to the supervisor reaches them as SIGINT (uvicorn then stops without waiting for requests)."""
        seen = max(1, len(self.signals))
        for slot in self.slots:
            _signal(slot.process, signal.SIGTERM)
        while any(s.process.is_alive() for s in self.slots):
            if len(self.signals) > seen:
                seen = len(self.signals)
                for slot in self.slots:
                    _signal(slot.process, signal.SIGINT)
            wait([s.process.sentinel for s in self.slots], timeout=0.2)
        for slot in self.slots:
            slot.process.join()
            slot.ready.close()


def _signal(process: SpawnProcess, sig: int) -> None:
    if process.pid is not None and process.exitcode is None:
        try:
            os.kill(process.pid, sig)
        except ProcessLookupError:
            pass


class _WorkerServer(uvicorn.Server):
    """uvicorn's server, which reports when its socket listens (its app has started)."""

    def __init__(self, config: uvicorn.Config, ready: Connection, name: str) -> None:
        super().__init__(config)
        self._ready = ready
        self._name = name

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
            http = getattr(self.config.http_protocol_class, "__name__", "?")
            log.info("%s [%d] accepting on its own socket (loop: %s, http: %s)", self._name, os.getpid(), loop, http)
            self._ready.send(os.getpid())
            self._ready.close()


def _worker_main(index: int, workers: int, host: str, port: int, options: dict[str, Any], ready: Connection,
                 parent: int, app_factory: str = APP_FACTORY) -> None:
    """One worker: its own ``SO_REUSEPORT`` socket, uvicorn's server (uvloop and httptools where installed,
    as for one process) on the app ``app_factory`` builds."""
    os.setpgid(0, 0)  # Ctrl-C in a terminal reaches the supervisor only, which forwards it once
    config = uvicorn.Config(app_factory, factory=True, host=host, port=port, **options)
    sock = _socket(host, reuse_port=True)
    try:
        sock.bind((host, port))
    except OSError as exc:
        log.error("Worker %d cannot bind %s:%d: %s", index + 1, host, port, exc)
        sys.exit(3)  # uvicorn's STARTUP_FAILURE
    sock.set_inheritable(False)
    server = _WorkerServer(config, ready, f"Worker {index + 1} of {workers}")
    threading.Thread(target=_stop_with_parent, args=(server, parent), daemon=True).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass


def _stop_with_parent(server: uvicorn.Server, parent: int) -> None:
    """A worker whose supervisor was killed (SIGKILL: nothing forwarded) shuts down gracefully."""
    while os.getppid() == parent:
        time.sleep(1.0)
    log.warning("The supervisor [%d] is gone: stopping", parent)
    server.should_exit = True
