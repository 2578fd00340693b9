"""A real hub on a loopback port (uvicorn in a thread, DuckDB in tmp_path) and httpx clients."""

from __future__ import annotations

import shutil
import ssl
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import admin
from hub.app import create_app
from hub.config import HubConfig
from hub.serve import HubServer, build_server
from hub.storage import Database

PASSWORD = "correct horse battery"
AGENT = "line1"
OTHER_AGENT = "line2"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class FakeClock:
    """Moved by tests instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class RunningHub:
    """Starts and stops a real uvicorn server on a free loopback port over one DuckDB file."""

    def __init__(
        self,
        db_path: Path,
        clock: FakeClock,
        tls: ssl.SSLContext,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.db_path = db_path
        self.clock = clock
        self.tls = tls
        # Quick heartbeats and timer passes: tests wait on real events, never on these periods.
        self.settings = {
            "streams": {"heartbeat_seconds": 0.2},
            "alarms": {"timer_poll_seconds": 0.05},
            **(settings or {}),
        }
        self._server: HubServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> None:
        # Port 0: the OS picks a free port and the server reports it (no race over a probe).
        config = HubConfig.model_validate(
            {
                "listen": {"host": "127.0.0.1", "port": 0},
                "storage": {"path": str(self.db_path)},
                **self.settings,
            }
        )
        server = build_server(config, create_app(config, clock=self.clock))
        thread = threading.Thread(target=server.run, name="hub-under-test", daemon=True)
        thread.start()
        if not server.ready.wait(timeout=15):
            server.should_exit = True
            thread.join(timeout=5)
            raise RuntimeError("hub did not start")
        self._server, self._thread = server, thread
        self.url = f"http://127.0.0.1:{server.port}"
        with self.client() as client:
            assert client.get("/healthz").json() == {"status": "ok"}

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # One shared SSL context: building one per client costs more than a whole request.
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, verify=self.tls)

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=15)
        assert not self._thread.is_alive(), "hub did not stop"
        self._server = self._thread = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """An open hub database in tmp_path, for tests below the HTTP layer."""
    database = Database(tmp_path / "hub.duckdb")
    await database.open()
    yield database
    await database.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture(scope="session")
def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


USERS: dict[str, tuple[str, list[str], list[str]]] = {
    # username: (role, sites, areas); an empty list means every site (or area).
    "maria": ("maintenance", ["plant1"], ["press"]),
    "otto": ("maintenance", ["plant1"], ["paint"]),
    "olga": ("operator", ["plant1"], ["press"]),
    "quinn": ("quality", [], []),
    "pia": ("planner", [], []),
    "pete": ("production", [], []),
    "paco": ("procurement", [], []),
    "lou": ("logistics", [], []),
    "sam": ("supervisor", ["plant1"], []),
    "ada": ("admin", [], []),
}
"""The seeded users (one per role at least), in the order they are created (audit records
1..len(USERS))."""


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Made once through the admin functions: the USERS and tokens for two agents."""
    path = tmp_path_factory.mktemp("seed") / "hub.duckdb"
    for username, (role, sites, areas) in USERS.items():
        admin.add_user(path, username, role, PASSWORD, sites=sites, areas=areas)
    tokens = {agent: admin.create_agent_token(path, agent) for agent in (AGENT, OTHER_AGENT)}
    return path, tokens


@pytest.fixture
def db_path(tmp_path: Path, seeded_db: tuple[Path, dict[str, str]]) -> Path:
    """A private copy of the seeded database (the file is closed, so a copy is consistent)."""
    path = tmp_path / "hub.duckdb"
    shutil.copyfile(seeded_db[0], path)
    return path


@pytest.fixture
def agent_tokens(seeded_db: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return seeded_db[1]


@pytest.fixture
def hub(db_path: Path, clock: FakeClock, tls_context: ssl.SSLContext) -> Iterator[RunningHub]:
    running = RunningHub(db_path, clock, tls_context)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def anon(hub: RunningHub) -> Iterator[httpx.Client]:
    with hub.client() as client:
        yield client


@pytest.fixture
def user_token(anon: httpx.Client) -> str:
    """A session of ada, the unscoped admin (scoped users are tested through ``as_user``)."""
    reply = anon.post("/api/v1/auth/login", json={"username": "ada", "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    token = reply.json()["token"]
    assert isinstance(token, str)
    return token


@pytest.fixture
def user(hub: RunningHub, user_token: str) -> Iterator[httpx.Client]:
    with hub.client(user_token) as client:
        yield client


def login(client: httpx.Client, username: str) -> str:
    reply = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    token = reply.json()["token"]
    assert isinstance(token, str)
    return token


@pytest.fixture
def as_user(hub: RunningHub, anon: httpx.Client) -> Iterator[Callable[[str], httpx.Client]]:
    """``as_user("ada")``: a client logged in as that seeded user (closed at teardown)."""
    clients: dict[str, httpx.Client] = {}

    def client_for(username: str) -> httpx.Client:
        if username not in clients:
            clients[username] = hub.client(login(anon, username))
        return clients[username]

    yield client_for
    for client in clients.values():
        client.close()


@pytest.fixture
def agent(hub: RunningHub, agent_tokens: dict[str, str]) -> Iterator[httpx.Client]:
    with hub.client(agent_tokens[AGENT]) as client:
        yield client


def event(seq: int, agent_id: str = AGENT, /, **fields: Any) -> dict[str, Any]:
    """A valid wire event as JSON; ``fields`` override or add keys (even ``seq``, to break it)."""
    body: dict[str, Any] = {
        "event_id": f"{agent_id}:{seq}",
        "agent_id": agent_id,
        "seq": seq,
        "type": "value",
        "tag": "press1.temp",
        "value": 20.5 + seq,
        "quality": "good",
        "source_time": (T0 + timedelta(seconds=seq)).isoformat(),
        "agent_time": (T0 + timedelta(seconds=seq, milliseconds=5)).isoformat(),
    }
    body.update(fields)
    return body


def batch(*events: Any, agent_id: str = AGENT) -> dict[str, Any]:
    return {"agent_id": agent_id, "events": list(events)}
