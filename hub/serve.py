"""Run the hub under uvicorn until SIGINT or SIGTERM."""

from __future__ import annotations

import contextlib
import gc
import logging
import socket
import threading
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from hub.app import create_app
from hub.config import HubConfig

logger = logging.getLogger(__name__)


class HubServer(uvicorn.Server):
    """uvicorn's server, reporting the address once the socket is bound.

    ``ready`` is set after startup (useful to a thread that waits for it); ``port`` is the bound
    port, which differs from the configured one when that is 0.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self.port: int | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """As uvicorn's, except that a signal which stopped the hub cleanly is not raised again
        afterwards: a stop by SIGTERM or Ctrl-C then exits with status 0, as systemd expects."""
        with super().capture_signals():
            yield
            self._captured_signals.clear()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:  # startup failed (e.g. port in use); uvicorn has logged why
            return
        for server in self.servers:
            for sock in server.sockets:
                self.port = int(sock.getsockname()[1])
        scheme = "https" if self.config.ssl_certfile else "http"
        logger.info("hub listening on %s://%s:%s", scheme, self.config.host, self.port)
        self.ready.set()


def build_server(config: HubConfig, app: FastAPI | None = None) -> HubServer:
    """A server for ``config`` (``app`` defaults to ``create_app(config)``); not started yet."""
    tls = config.tls
    uv_config = uvicorn.Config(
        app if app is not None else create_app(config),
        host=config.listen.host,
        port=config.listen.port,
        ssl_certfile=str(tls.certfile) if tls else None,
        ssl_keyfile=str(tls.keyfile) if tls else None,
        lifespan="on",
        # Live SSE streams never end by themselves: give open requests this long at shutdown.
        timeout_graceful_shutdown=5,
        # The hub does not serve websockets; skipping the import keeps optional deps optional.
        ws="none",
        # Agents post every second or so: a line per request would bury the state changes in
        # the journal. ``logs.json_requests`` turns on a request log when one is wanted.
        access_log=False,
    )
    return HubServer(uv_config)


def run(config: HubConfig) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn handles them); the lifespan closes the database."""
    if not logging.getLogger().handlers:
        # Only if the caller has not set logging up: our state lines must reach the journal.
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    server = build_server(config)
    # Everything imported and built so far lives as long as the process: out of the garbage
    # collector's rounds, it is not walked again at every collection (about 1.6 ms CPU less
    # per ingest batch of 1,000 events, measured).
    gc.collect()
    gc.freeze()
    server.run()
