"""Hub ingest throughput, beside the ceilings measured in the same run.

All figures are over batches of BATCH value events; 10% of each batch repeats events of the
agent's batch before, so de-duplication is exercised on every batch.

* hub: ``POST /api/v1/ingest`` on a real hub (uvicorn, DuckDB file) in a child process on
  loopback: parse, de-duplicate, store events, update live values, reply after the commit.
  Posted by one agent with one batch in flight (as an agent's forwarder posts), and by AGENTS
  agents at once (the hub then groups concurrent batches into one commit).
* bare FastAPI: the same posts to an endpoint, also in a child process, that only validates the
  body with the same wire model: the ceiling of HTTP + validation on this machine.
* raw DuckDB, in this process: the same validated events inserted into the hub's events table
  with no de-duplication and no live values, three ways (a list bound per column, the appender,
  one JSON text as the hub now does), commit per batch.
* hub stages, in this process: ``prepare`` (parse, in-batch de-dup, JSON text) and the writer
  (de-dup against the stored seqs, insert, live values, commit) on their own.

The servers run in their own processes so the client never takes their GIL, and the client
is lean (``RawClient``) so it takes little of their CPU; server CPU counts the hub's ingest
worker processes too. Both servers get WARM_UP_BATCHES per agent before the first round. Hub
and bare endpoint are measured alternately in ROUNDS rounds (the order flipping each round, so
a drift of the machine's speed hits both alike); medians are printed with every round's figure.
Each round is bounded by its batch count and SECONDS; the whole run by TIME_LIMIT.

    .venv/bin/python bench/bench_ingest.py
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import uvicorn
from fastapi import FastAPI, Request

from hub import admin
from hub.app import create_app
from hub.config import HubConfig
from hub.ingest.prepare import prepare
from hub.ingest.writer import IngestWriter
from hub.serve import HubServer
from hub.storage import Database, open_connection
from hub.storage.event_json import dump_events, events_from_json
from protocols.wire import Event, IngestRequest

BATCH = 1_000
REPEAT = BATCH // 10
AGENTS = 4
ROUNDS = 3
SEQUENTIAL_BATCHES = 300
"""Batches per sequential round (one agent)."""
CONCURRENT_BATCHES = 150
"""Batches per agent in a concurrent round: long enough (several seconds) to be sustained."""
WARM_UP_BATCHES = 3
"""Batches per agent posted before any round (the hub starts its ingest workers on the first)."""
SECONDS = 15.0
"""A round stops after this long; its figure is over the batches sent by then."""
TIME_LIMIT = 240.0
TARGET = 100_000
T0 = datetime(2026, 3, 1, tzinfo=UTC)


# --- the workload ------------------------------------------------------------------------------


class Agent:
    """One agent's stream of batches: fresh seqs, plus REPEAT events of the batch before."""

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        self.seq = 0
        self.previous: list[dict[str, Any]] = []
        self.unique = 0

    def batch(self) -> bytes:
        events = list(self.previous[-REPEAT:])
        while len(events) < BATCH:
            self.seq += 1
            self.unique += 1
            at = (T0 + timedelta(milliseconds=self.seq)).isoformat()
            events.append(
                {
                    "event_id": f"{self.agent_id}:{self.seq}",
                    "agent_id": self.agent_id,
                    "seq": self.seq,
                    "type": "value",
                    "tag": f"line1.tag{self.seq % 500}",
                    "value": self.seq * 0.5,
                    "quality": "good",
                    "source_time": at,
                    "agent_time": at,
                    "context": {"site": "plant1", "area": "press", "line": "L1"},
                }
            )
        self.previous = events
        return json.dumps({"agent_id": self.agent_id, "events": events}).encode()

    def batches(self, count: int) -> list[bytes]:
        return [self.batch() for _ in range(count)]


# --- the server processes ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/api/v1/ingest")
    async def ingest(request: Request) -> dict[str, int]:
        parsed = IngestRequest.model_validate_json(await request.body())
        return {"accepted": len(parsed.events)}

    return app


def serve(kind: str, db: str, port: int, ready: Any) -> None:
    """Child process: the bare endpoint or the hub, until the parent terminates it."""
    if kind == "hub":
        app = create_app(HubConfig.model_validate({"storage": {"path": db}}))
    else:
        app = bare_app()
    server = HubServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    )
    threading.Thread(target=lambda: server.ready.wait(60) and ready.set(), daemon=True).start()
    server.run()


def cpu_seconds(pid: int) -> float:
    """CPU time a process and its live children (the hub's ingest workers) have used, user +
    system, from /proc (Linux)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    url: str
    pid: int


@contextmanager
def server_process(kind: str, db: Path) -> Iterator[Server]:
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    port = free_port()
    process = context.Process(target=serve, args=(kind, str(db), port, ready))
    process.start()
    try:
        if not ready.wait(60):
            raise SystemExit(f"the {kind} server did not start")
        assert process.pid is not None
        yield Server(f"http://127.0.0.1:{port}", process.pid)
    finally:
        process.terminate()  # SIGTERM: uvicorn shuts down, the hub closes its database
        process.join(30)
        if process.is_alive():
            process.kill()
            process.join(5)


# --- the clients -------------------------------------------------------------------------------


class RawClient:
    """HTTP/1.1 posts over one kept-alive loopback connection, each request built as bytes.

    A lean client on purpose: the bench client shares the machine's cores with the server, and
    httpx spent several milliseconds of CPU per post of 1,000 events, as much as the bare
    endpoint it measured. This one costs about 0.2 ms per batch (printed with the figures).
    """

    def __init__(self, url: str, token: str) -> None:
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.head = (
            f"POST /api/v1/ingest HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        ).encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawClient:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()

    async def post(self, body: bytes) -> bytes:
        """Post one batch; return the reply body (raises unless the status is 200)."""
        assert self._reader is not None and self._writer is not None
        self._writer.write(b"%sContent-Length: %d\r\n\r\n%s" % (self.head, len(body), body))
        head = await self._reader.readuntil(b"\r\n\r\n")
        status, _, fields = head.partition(b"\r\n")
        length = 0
        for field in fields.split(b"\r\n"):
            name, _, value = field.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        reply = await self._reader.readexactly(length)
        if not status.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"{status.decode()}: {reply[:300]!r}")
        return reply


async def post_sequential(url: str, token: str, bodies: list[bytes]) -> tuple[float, int]:
    """(events/s, batches) of one agent posting its batches one after another."""
    return await post_concurrent(url, [token], [bodies])


async def post_concurrent(
    url: str, tokens: list[str], bodies: list[list[bytes]]
) -> tuple[float, int]:
    """(events/s, batches) of several agents posting at once, each one batch after another."""
    clients = [RawClient(url, token) for token in tokens]
    async with contextlib.AsyncExitStack() as stack:
        for client in clients:
            await stack.enter_async_context(client)  # connected outside the timing
        started = time.perf_counter()
        sent = 0

        async def agent(client: RawClient, own: list[bytes]) -> None:
            nonlocal sent
            for body in own:
                await client.post(body)
                sent += BATCH
                if time.perf_counter() - started > SECONDS:
                    break

        await asyncio.gather(*(agent(c, own) for c, own in zip(clients, bodies, strict=True)))
        return sent / (time.perf_counter() - started), sent // BATCH


# --- in-process figures ------------------------------------------------------------------------


def raw_duckdb(folder: Path, bodies: list[bytes]) -> dict[str, float]:
    """Rows/s of the same events straight into the hub's events table (no de-dup)."""
    batches = [_unique(IngestRequest.model_validate_json(body).events) for body in bodies]
    figures: dict[str, float] = {}

    def timed(name: str, insert: Callable[[duckdb.DuckDBPyConnection, list[Event]], None]) -> None:
        with open_connection(folder / f"raw-{len(figures)}.duckdb") as conn:
            started, count = time.perf_counter(), 0
            for batch in batches:
                conn.begin()
                insert(conn, batch)
                conn.commit()
                count += len(batch)
                if time.perf_counter() - started > SECONDS:
                    break
            figures[name] = count / (time.perf_counter() - started)

    timed("INSERT ... SELECT unnest(list per column)", _insert_lists)
    timed("appender (append_rows)", _insert_appender)
    timed("INSERT ... SELECT from_json(one text)", _insert_json)
    return figures


def _unique(events: list[Event]) -> list[Event]:
    seen: set[str] = set()
    unique = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            unique.append(event)
    return unique


_RAW_COLUMNS = (
    "event_id, agent_id, seq, type, tag, value, quality, source_time, agent_time, received_at,"
    " rule, severity, category, context, site, area, line"
)


def _rows(batch: list[Event]) -> list[tuple[Any, ...]]:
    return [
        (e.event_id, e.agent_id, e.seq, e.type.value, e.tag, json.dumps(e.value), e.quality.value,
         e.source_time, e.agent_time, T0, e.rule, None, None, json.dumps(e.context),
         e.context.get("site"), e.context.get("area"), e.context.get("line"))
        for e in batch
    ]  # fmt: skip


def _insert_lists(conn: duckdb.DuckDBPyConnection, batch: list[Event]) -> None:
    types = ("VARCHAR", "VARCHAR", "BIGINT", "VARCHAR", "VARCHAR", "JSON", "VARCHAR",
             "TIMESTAMPTZ", "TIMESTAMPTZ", "TIMESTAMPTZ", "VARCHAR", "VARCHAR", "VARCHAR", "JSON",
             "VARCHAR", "VARCHAR", "VARCHAR")  # fmt: skip
    columns = [list(column) for column in zip(*_rows(batch), strict=True)]
    selects = ", ".join(f"unnest(${i + 1}::{t}[])" for i, t in enumerate(types))
    conn.execute(f"INSERT INTO events ({_RAW_COLUMNS}) SELECT {selects}", columns)


def _insert_appender(conn: duckdb.DuckDBPyConnection, batch: list[Event]) -> None:
    with conn.appender("events") as appender:
        appender.append_rows(_rows(batch))


def _insert_json(conn: duckdb.DuckDBPyConnection, batch: list[Event]) -> None:
    events = dump_events(batch[0].agent_id, batch)
    conn.execute(
        f"INSERT INTO events ({_RAW_COLUMNS}) SELECT event_id, agent_id, seq, type, tag, value,"
        " quality, source_time, agent_time, $received_at, rule, severity, category, context,"
        f" site, area, line FROM {events_from_json(events)}",
        {**events.params(), "received_at": T0},
    )


def hub_stages(folder: Path, bodies: list[bytes]) -> dict[str, float]:
    """Events/s of the two halves of a request, without HTTP: what runs before the writer,
    and the writer's transaction (one batch per transaction here: no grouping)."""
    started = time.perf_counter()
    prepared = [prepare(body, "bench0", T0) for body in bodies]
    prepare_seconds = time.perf_counter() - started
    sent = len(bodies) * BATCH

    async def write_all() -> float:
        db = Database(folder / "stages.duckdb")
        await db.open()
        writer = IngestWriter()
        try:
            await writer.open(db)
            started = time.perf_counter()
            for batch in prepared:
                await writer.store(batch)
            await writer.settled()  # loaded into DuckDB, not only journaled
            return time.perf_counter() - started
        finally:
            await writer.close()
            await db.close()

    write_seconds = asyncio.run(write_all())
    return {
        "prepare: parse + validate, de-dup, JSON text": sent / prepare_seconds,
        "writer: de-dup, journal, load (events, values)": sent / write_seconds,
    }


# --- the run -----------------------------------------------------------------------------------


def main() -> int:
    deadline = time.monotonic() + TIME_LIMIT
    agents = [Agent(f"bench{i}") for i in range(AGENTS)]
    # Each hub round needs fresh batches (a batch sent twice is all duplicates); the bare
    # endpoint gets the same bodies in the same round.
    rounds = [
        (
            agents[0].batches(SEQUENTIAL_BATCHES),
            [agent.batches(CONCURRENT_BATCHES) for agent in agents],
        )
        for _ in range(ROUNDS)
    ]
    names = ("bare 1", "hub 1", f"bare {AGENTS}", f"hub {AGENTS}")
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpu_ms: dict[str, list[float]] = {name: [] for name in names}
    """Milliseconds of server CPU per batch."""
    client_ms: list[float] = []
    """Milliseconds of the client's CPU per batch (this process), every round."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "hub.duckdb"
        tokens = [admin.create_agent_token(db, agent.agent_id) for agent in agents]
        with server_process("hub", db) as hub, server_process("bare", db) as bare:
            warm_up = [agent.batches(WARM_UP_BATCHES) for agent in agents]
            for server in (hub, bare):
                asyncio.run(post_concurrent(server.url, tokens, warm_up))
            for index, (sequential, concurrent) in enumerate(rounds):
                order = (bare, hub) if index % 2 == 0 else (hub, bare)
                for server in order:
                    if time.monotonic() > deadline:
                        break
                    kind = "hub" if server is hub else "bare"
                    posts = (
                        (f"{kind} 1", post_sequential(server.url, tokens[0], sequential)),
                        (f"{kind} {AGENTS}", post_concurrent(server.url, tokens, concurrent)),
                    )
                    for name, post in posts:
                        cpu, own = cpu_seconds(server.pid), time.process_time()
                        rate, batches = asyncio.run(post)
                        rates[name].append(rate)
                        cpu_ms[name].append((cpu_seconds(server.pid) - cpu) / batches * 1000)
                        client_ms.append((time.process_time() - own) / batches * 1000)
        with open_connection(db) as conn:
            row = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone()
        stored, distinct = (int(row[0]), int(row[1])) if row else (0, 0)
        sent_unique = sum(agent.unique for agent in agents)
        raw = raw_duckdb(folder, rounds[0][0])
        stages = hub_stages(folder, rounds[0][0])

    median = {name: statistics.median(values) for name, values in rates.items() if values}
    print(
        f"batches of {BATCH:,} value events ({REPEAT} repeated from the agent's batch before); "
        f"servers in child processes on loopback; median of {len(rates['hub 1'])} alternating "
        "rounds"
    )
    for agents_at_once in (1, AGENTS):
        hub_rate, bare_rate = median[f"hub {agents_at_once}"], median[f"bare {agents_at_once}"]
        hub_cpu = statistics.median(cpu_ms[f"hub {agents_at_once}"])
        bare_cpu = statistics.median(cpu_ms[f"bare {agents_at_once}"])
        label = "1 agent " if agents_at_once == 1 else f"{agents_at_once} agents"
        print(
            f"hub POST /ingest, {label}, 1 batch in flight each: {hub_rate:9,.0f} events/s "
            f"({hub_rate / bare_rate:.0%} of bare), server CPU {hub_cpu:5.1f} ms/batch  "
            f"rounds: {_list(rates[f'hub {agents_at_once}'])}"
        )
        print(
            f"  bare FastAPI + validation, same posts     : {bare_rate:9,.0f} events/s"
            f"               , server CPU {bare_cpu:5.1f} ms/batch  "
            f"rounds: {_list(rates[f'bare {agents_at_once}'])}"
        )
    client_cpu = statistics.median(client_ms)
    print(f"client CPU (this process, on the same cores): {client_cpu:.1f} ms/batch")
    print(
        f"stored {stored:,} events, {distinct:,} distinct, of {sent_unique:,} distinct sent "
        "(the repeats were counted as duplicates)"
    )
    for name, rate in raw.items():
        print(f"raw DuckDB {name:<43}: {rate:9,.0f} rows/s (no de-dup, no live values)")
    for name, rate in stages.items():
        print(f"hub stage {name:<44}: {rate:9,.0f} events/s")
    best = max(median["hub 1"], median[f"hub {AGENTS}"])
    print(f"target >= {TARGET:,} events/s: {'met' if best >= TARGET else 'not met'} ({best:,.0f})")
    if stored != distinct or distinct > sent_unique:
        print("FAIL: an event was stored twice", file=sys.stderr)
        return 1
    return 0


def _list(rates: list[float]) -> str:
    return " ".join(f"{rate:,.0f}" for rate in rates)


if __name__ == "__main__":
    sys.exit(main())
