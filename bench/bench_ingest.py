"""Hub ingest throughput, beside the ceilings measured in the same run.

Three figures, all over the same batches of BATCH value events (10% of each batch repeats
events of the batch before, so de-duplication is exercised):

* hub: ``POST /api/v1/ingest`` on a real uvicorn hub on loopback (parse, de-dup, store events,
  update live values, reply after the commit);
* bare FastAPI: an endpoint that only validates the same body with the same wire model;
* raw DuckDB: the same rows inserted straight into the hub's ``events`` table, by
  ``INSERT ... SELECT unnest(...)`` and by the appender.

Every loop is bounded by a count and a time limit; the client is sequential (one batch in
flight), as an agent's forwarder is.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import uvicorn
from fastapi import FastAPI, Request

from hub import admin
from hub.app import create_app
from hub.config import HubConfig
from hub.ingest.parse import parse_batch
from hub.ingest.repository import insert_new_events
from hub.serve import HubServer
from hub.storage import open_connection
from hub.values.service import apply_events as apply_values
from protocols.wire import Event, IngestRequest

AGENT = "bench"
BATCH = 1_000
BATCHES = 60
REPEAT = BATCH // 10
TIME_LIMIT = 20.0
"""Seconds per measurement at most; the figure is over the batches sent by then."""
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def make_batches() -> list[list[dict[str, Any]]]:
    batches: list[list[dict[str, Any]]] = []
    seq = 0
    for _ in range(BATCHES):
        events = []
        if batches:
            events.extend(batches[-1][-REPEAT:])  # duplicates of the previous batch
        while len(events) < BATCH:
            seq += 1
            at = (T0 + timedelta(milliseconds=seq)).isoformat()
            events.append(
                {
                    "event_id": f"{AGENT}:{seq}",
                    "agent_id": AGENT,
                    "seq": seq,
                    "type": "value",
                    "tag": f"line1.tag{seq % 500}",
                    "value": seq * 0.5,
                    "quality": "good",
                    "source_time": at,
                    "agent_time": at,
                    "context": {"site": "plant1", "area": "press", "line": "L1"},
                }
            )
        batches.append(events)
    return batches


def bodies(batches: list[list[dict[str, Any]]]) -> list[bytes]:
    return [json.dumps({"agent_id": AGENT, "events": b}).encode() for b in batches]


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    server = HubServer(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", ws="none")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    if not server.ready.wait(15):
        raise RuntimeError("server did not start")
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.should_exit = True
        thread.join(15)


def post_all(url: str, payloads: list[bytes], token: str | None = None) -> tuple[int, float]:
    """(events sent, seconds); sequential, bounded by TIME_LIMIT."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    sent = 0
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        client.post(url + "/warmup", content=b"{}")  # connection set up outside the timing
        started = time.perf_counter()
        for payload in payloads:
            reply = client.post("/api/v1/ingest", content=payload)
            reply.raise_for_status()
            sent += BATCH
            if time.perf_counter() - started > TIME_LIMIT:
                break
        return sent, time.perf_counter() - started


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/api/v1/ingest")
    async def ingest(request: Request) -> dict[str, int]:
        parsed = IngestRequest.model_validate_json(await request.body())
        return {"accepted": len(parsed.events)}

    return app


def raw_duckdb(folder: Path, batches: list[list[dict[str, Any]]]) -> dict[str, float]:
    events = [[Event.model_validate_json(json.dumps(e)) for e in b] for b in batches]
    figures = {}

    def timed(
        name: str, insert: Callable[[duckdb.DuckDBPyConnection, list[Event]], object]
    ) -> None:
        with open_connection(folder / f"raw-{name}.duckdb") as conn:
            started, count = time.perf_counter(), 0
            for batch in events:
                conn.begin()
                insert(conn, batch)
                conn.commit()
                count += len(batch)
                if time.perf_counter() - started > TIME_LIMIT:
                    break
            figures[name] = count / (time.perf_counter() - started)

    timed("unnest + ON CONFLICT (the hub's statement)", lambda c, b: insert_new_events(c, b, T0))
    seen: set[str] = set()

    def appender(conn: duckdb.DuckDBPyConnection, batch: list[Event]) -> None:
        # The appender has no ON CONFLICT: the repeated events are skipped here in Python.
        rows = []
        for e in batch:
            if e.event_id in seen:
                continue
            seen.add(e.event_id)
            rows.append(
                (e.event_id, e.agent_id, e.seq, e.type.value, e.tag, json.dumps(e.value),
                 e.quality.value, e.source_time, e.agent_time, T0, None, None, None,
                 json.dumps(e.context), "plant1", "press", "L1")
            )  # fmt: skip
        with conn.appender("events") as app:
            app.append_rows(rows)

    timed("appender (no de-dup in SQL)", appender)
    return figures


def hub_stages(folder: Path, payloads: list[bytes]) -> dict[str, float]:
    """Where a batch's time goes inside the hub: the same functions the ingest service calls."""
    seconds = {"parse + validate (pydantic, strict)": 0.0, "insert events": 0.0}
    seconds["update live values"] = 0.0
    count = 0
    with open_connection(folder / "stages.duckdb") as conn:
        for payload in payloads:
            started = time.perf_counter()
            batch = parse_batch(payload)
            parsed = time.perf_counter()
            unique = list({e.event_id: e for e in batch.events}.values())
            conn.begin()
            inserted = insert_new_events(conn, unique, T0)
            stored = time.perf_counter()
            apply_values(conn, [e for e in unique if e.event_id in inserted], T0)
            conn.commit()
            done = time.perf_counter()
            seconds["parse + validate (pydantic, strict)"] += parsed - started
            seconds["insert events"] += stored - parsed
            seconds["update live values"] += done - stored
            count += len(batch.events)
    return {name: count / spent for name, spent in seconds.items()}


def main() -> None:
    batches = make_batches()
    payloads = bodies(batches)
    total = sum(len(b) for b in batches)
    print(f"batches of {BATCH} events ({REPEAT} repeated from the batch before), {BATCHES} batches")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with serve(bare_app()) as url:
            sent, seconds = post_all(url, payloads)
        bare = sent / seconds

        db = folder / "hub.duckdb"
        token = admin.create_agent_token(db, AGENT)
        config = HubConfig.model_validate({"storage": {"path": str(db)}})
        with serve(create_app(config)) as url:
            sent, seconds = post_all(url, payloads, token)
        hub = sent / seconds
        with open_connection(db) as conn:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
        stored = int(row[0]) if row else 0

        raw = raw_duckdb(folder, batches)
        stages = hub_stages(folder, payloads)

    print(
        f"hub POST /ingest           : {hub:10,.0f} events/s  ({stored:,} stored of {total:,} sent)"
    )
    print(f"bare FastAPI + validation  : {bare:10,.0f} events/s  (hub at {hub / bare:.0%})")
    for name, rate in raw.items():
        print(f"raw DuckDB {name:<45}: {rate:10,.0f} rows/s")
    print("hub stages in process (no HTTP), events/s each:")
    for name, rate in stages.items():
        print(f"  {name:<40}: {rate:10,.0f}")


if __name__ == "__main__":
    main()
