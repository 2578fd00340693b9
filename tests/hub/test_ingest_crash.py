"""Every acknowledged event is there after a hard kill: the hub replays its ingest journal.

A reply to ``POST /ingest`` waits for the journal line on disk, not for DuckDB, so a SIGKILL
between the two leaves acknowledged events only in the journal; the next start must load them
(once), cutting off a line the crash tore.
"""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from hub.ingest.journal import SUFFIX, line_of
from hub.ingest.prepare import prepare
from hub.ingest.writer import journal_folder
from tests.conftest import free_port
from tests.e2e.conftest import Processes, wait_until_healthy
from tests.hub.conftest import AGENT, PASSWORD, T0, FakeClock, RunningHub, batch, event

BATCH_EVENTS = 500
POSTERS = 3
KILL_AFTER_ACKS = 12
"""Acknowledged batches before the kill (posters have more in flight when it lands)."""
MAX_BATCHES = 100
"""Per poster: the bound of its loop should the kill never come."""
POST_SECONDS = 8.0


def _segments(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{SUFFIX}"))


def _login(client: httpx.Client) -> None:
    reply = client.post("/api/v1/auth/login", json={"username": "ada", "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    client.headers["Authorization"] = f"Bearer {reply.json()['token']}"


def _listed_event_ids(client: httpx.Client) -> list[str]:
    """Every event of AGENT that GET /events lists, paging with ``next`` (bounded)."""
    ids: list[str] = []
    params: dict[str, Any] = {"agent_id": AGENT, "limit": 1000}
    for _ in range(1000):
        page = client.get("/api/v1/events", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        ids.extend(item["event_id"] for item in body["items"])
        if body["next"] is None:
            return ids
        params["after"] = body["next"]
    raise AssertionError("GET /events did not reach its last page")


@dataclass
class Posting:
    """What the posters share: the next seq, the acknowledged batches, the hub to kill."""

    hub: subprocess.Popen[bytes]
    """Killed right after the KILL_AFTER_ACKS-th reply."""
    next_seq: int = 1
    acked: list[list[dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    killed: threading.Event = field(default_factory=threading.Event)
    workers: list[int] = field(default_factory=list)
    """The hub's ingest worker processes when it was killed."""

    def take_batch(self) -> list[dict[str, Any]]:
        with self.lock:
            first, self.next_seq = self.next_seq, self.next_seq + BATCH_EVENTS
        return [event(seq) for seq in range(first, first + BATCH_EVENTS)]

    def acknowledged(self, events: list[dict[str, Any]]) -> None:
        with self.lock:
            self.acked.append(events)
            if len(self.acked) == KILL_AFTER_ACKS:
                # Set first: a poster whose request the kill cuts must find it set.
                self.killed.set()
                self.workers = _children(self.hub.pid)
                # No wait for the loader: it is likely still behind this reply.
                self.hub.send_signal(signal.SIGKILL)


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:  # ended meanwhile
            continue
        if stat and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return children


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (an exited process not yet reaped is a zombie: not alive)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _post_until_killed(url: str, token: str, posting: Posting, deadline: float) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        for _ in range(MAX_BATCHES):
            if posting.killed.is_set() or time.monotonic() > deadline:
                return
            events = posting.take_batch()
            try:
                reply = client.post("/api/v1/ingest", json=batch(*events))
            except httpx.HTTPError:
                assert posting.killed.is_set(), "the hub failed a request before the kill"
                return  # in flight when the hub died: not acknowledged
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert body["accepted"] == [e["event_id"] for e in events], body["rejected"]
            posting.acknowledged(events)


@pytest.mark.e2e
def test_acknowledged_events_survive_sigkill(
    tmp_path: Path, db_path: Path, agent_tokens: dict[str, str]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = Processes(logs)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ("hub", "--db", str(db_path), "--host", "127.0.0.1", "--port", str(port))
    folder = journal_folder(db_path)
    try:
        hub = processes.start("hub", *args)
        wait_until_healthy(f"{url}/healthz", hub)
        posting = Posting(hub)
        deadline = time.monotonic() + POST_SECONDS
        with ThreadPoolExecutor(POSTERS) as pool:
            posters = [
                pool.submit(_post_until_killed, url, agent_tokens[AGENT], posting, deadline)
                for _ in range(POSTERS)
            ]
            for poster in posters:
                poster.result(timeout=POST_SECONDS + 15)
        assert posting.killed.is_set(), f"only {len(posting.acked)} batches acknowledged"
        assert processes.stop("hub") == -signal.SIGKILL
        # Batches of BATCH_EVENTS are large enough for the ingest workers; none outlives the hub.
        assert posting.workers, "the hub had no ingest worker processes"
        for _ in range(100):
            if not any(_alive(pid) for pid in posting.workers):
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"ingest workers {posting.workers} outlived the killed hub")
        acked = [e["event_id"] for events in posting.acked for e in events]
        posted = {f"{AGENT}:{seq}" for seq in range(1, posting.next_seq)}

        left = _segments(folder)
        assert left, "the loader had emptied the journal: the replay is not exercised"
        # The dead hub's DuckDB, read as the next start finds it: what only the journal holds.
        with duckdb.connect(str(db_path), read_only=True) as db:
            in_db = {row[0] for row in db.execute("SELECT event_id FROM events").fetchall()}
        assert set(acked) - in_db, "every acknowledged event was loaded before the kill"

        hub = processes.start("hub", *args)
        wait_until_healthy(f"{url}/healthz", hub)
        with httpx.Client(base_url=url, timeout=10) as client:
            _login(client)
            listed = _listed_event_ids(client)
            assert len(listed) == len(set(listed)), "an event is listed twice"
            missing = set(acked) - set(listed)
            assert not missing, f"{len(missing)} acknowledged events lost"
            assert set(listed) <= posted
            assert _segments(folder) == [], "loaded segments were not deleted"

            client.headers["Authorization"] = f"Bearer {agent_tokens[AGENT]}"
            for events in posting.acked:
                reply = client.post("/api/v1/ingest", json=batch(*events))
                assert reply.status_code == 200, reply.text
                body = reply.json()
                assert body["accepted"] == []
                assert body["duplicates"] == [e["event_id"] for e in events]
        assert processes.stop("hub") == 0

        with duckdb.connect(str(db_path), read_only=True) as db:
            total, distinct = db.execute(
                "SELECT count(*), count(DISTINCT event_id) FROM events WHERE agent_id = ?", [AGENT]
            ).fetchone() or (0, 0)
        assert total == distinct == len(listed)
    except BaseException:
        if (logs / "hub.log").exists():
            print(processes.log("hub")[-4000:])
        raise
    finally:
        processes.stop_all()


def test_torn_last_line_is_cut_on_start(
    db_path: Path, agent_tokens: dict[str, str], clock: FakeClock, tls_context: ssl.SSLContext
) -> None:
    whole = [event(seq) for seq in range(1, 6)]
    torn = [event(seq) for seq in range(6, 9)]
    lines = [
        line_of(prepare(json.dumps(batch(*events)).encode(), AGENT, T0).doc, T0, None)
        for events in (whole, torn)
    ]
    folder = journal_folder(db_path)
    folder.mkdir()
    segment = folder / f"{1:012d}{SUFFIX}"
    # A crash in the middle of the second write: its sync never returned, so never acknowledged.
    segment.write_bytes(lines[0] + lines[1][: len(lines[1]) // 2])

    hub = RunningHub(db_path, clock, tls_context)
    try:
        hub.start()
        assert _segments(folder) == []
        with hub.client() as client:
            _login(client)
            assert _listed_event_ids(client) == [e["event_id"] for e in whole]
        clock.advance(timedelta(seconds=1))
        # The torn line claimed no seq: its events are new when the agent sends them again.
        with hub.client(agent_tokens[AGENT]) as agent:
            reply = agent.post("/api/v1/ingest", json=batch(*whole, *torn))
            assert reply.status_code == 200, reply.text
            assert reply.json()["accepted"] == [e["event_id"] for e in torn]
            assert reply.json()["duplicates"] == [e["event_id"] for e in whole]
    finally:
        hub.stop()
