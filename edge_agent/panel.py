"""The agent's small local HTTP API, for an HMI panel beside the machine and for Prometheus.

It keeps working when the hub is unreachable: list the open alarms, acknowledge one, shelve an
alarm, read health and metrics. Loopback only unless a token is configured (the config refuses
anything else). Served with h11 on asyncio streams, to keep web frameworks out of the agent's
memory on a 1 GB gateway.

    GET  /healthz                      {"status": "ok"}
    GET  /alarms                       {"items": [occurrence, ...]} most severe first, each with
                                        its alarm's shelved_until / shelve_reason / suppressed /
                                        out_of_service
    POST /alarms/{occurrence}/ack      {"by": "ana", "note": "..."}
    POST /alarms/{rule}/shelve         {"by": "ana", "minutes": 30, "reason": "..."}  (0 unshelves)
    POST /alarms/{rule}/flags          {"by": "ana", "suppressed": false, "out_of_service": true,
                                        "reason": "..."}  (reason optional)

    GET  /metrics                      Prometheus text format

Shelving and flags set here reach the hub as events; see ``edge_agent.alarms`` for the sync.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import h11
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_agent.alarms import AlarmError
from protocols.wire import utc_now

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
_REASONS = {
    200: b"OK",
    401: b"Unauthorized",
    404: b"Not Found",
    413: b"Content Too Large",
    422: b"Unprocessable Content",
}


class _Ack(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    by: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=2000)


class _Shelve(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=100)
    minutes: float = Field(ge=0)
    reason: str = Field(min_length=1, max_length=2000)


class _Flags(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    by: str = Field(min_length=1, max_length=100)
    suppressed: bool
    out_of_service: bool
    reason: str | None = Field(default=None, max_length=2000)


class HttpError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class PanelActions:
    """What the panel may do; the agent's pipeline provides it."""

    def __init__(
        self,
        open_alarms: Callable[[], list[Any]],
        acknowledge: Callable[[str, str, str | None, str], Awaitable[None]],
        shelve: Callable[[str, timedelta | None, str, str], Awaitable[None]],
        metrics: Callable[[], Awaitable[bytes]],
        set_flags: Callable[[str, bool, bool, str, str | None], Awaitable[None]] | None = None,
        flags_of: Callable[[str], Any] | None = None,
    ) -> None:
        self.open_alarms = open_alarms
        self.acknowledge = acknowledge
        self.shelve = shelve
        self.metrics = metrics
        self.set_flags = set_flags
        self.flags_of = flags_of
        """rule -> its ``Definition`` (shelve and flags), shown beside each open alarm."""


class Panel:
    """Serves ``PanelActions`` over HTTP/1.1.

    Args:
        actions: The agent's side of each endpoint.
        host: Where to listen (loopback by default).
        port: TCP port; 0 picks a free one (see ``port`` after ``start``).
        token: Required as ``Authorization: Bearer TOKEN`` when given.
    """

    def __init__(self, actions: PanelActions, host: str, port: int, token: str | None) -> None:
        self._actions = actions
        self._host = host
        self._port = port
        self._token = token
        self._server: asyncio.Server | None = None
        self.ready = asyncio.Event()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def serve(self) -> None:
        """Serve until cancelled."""
        self._server = await asyncio.start_server(self._connection, self._host, self._port)
        log.info("local panel API on http://%s:%s", self._host, self.port)
        self.ready.set()
        async with self._server:
            await self._server.serve_forever()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                try:
                    request, body = await _read_request(conn, reader)
                except HttpError as exc:  # e.g. a body over MAX_BODY: answer, then close
                    status, content_type = exc.status, "application/json"
                    payload = json.dumps({"detail": exc.reason}).encode()
                    request, body = None, b""
                else:
                    if request is None:
                        return
                    status, content_type, payload = await self._respond(request, body)
                headers = [("content-type", content_type), ("content-length", str(len(payload)))]
                writer.write(
                    conn.send(
                        h11.Response(
                            status_code=status, headers=headers, reason=_REASONS.get(status, b"")
                        )
                    )
                )
                writer.write(conn.send(h11.Data(data=payload)))
                writer.write(conn.send(h11.EndOfMessage()))
                await writer.drain()
                if request is None or conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (h11.RemoteProtocolError, h11.LocalProtocolError, ConnectionError, HttpError):
            return
        finally:
            writer.close()

    async def _respond(self, request: h11.Request, body: bytes) -> tuple[int, str, bytes]:
        method = request.method.decode()
        path = request.target.decode().split("?", 1)[0]
        try:
            self._authorise(request)
            if method == "GET" and path == "/metrics":
                return 200, "text/plain; version=0.0.4", await self._actions.metrics()
            return (
                200,
                "application/json",
                json.dumps(await self._route(method, path, body)).encode(),
            )
        except HttpError as exc:
            return exc.status, "application/json", json.dumps({"detail": exc.reason}).encode()

    def _alarm_json(self, occurrence: Any) -> dict[str, Any]:
        """An open occurrence, with the shelve and flags of its alarm: a technician at the panel
        must see that an alarm is shelved (and until when) or taken out of service."""
        item = _occurrence_json(occurrence)
        if self._actions.flags_of is not None:
            definition = self._actions.flags_of(occurrence.rule)
            until = definition.until(utc_now())
            item |= {
                "shelved_until": until.isoformat() if until else None,
                "shelve_reason": definition.shelve_reason if until else None,
                "shelved_by": definition.shelved_by if until else None,
                "suppressed": definition.suppressed,
                "out_of_service": definition.out_of_service,
            }
        return item

    def _authorise(self, request: h11.Request) -> None:
        if self._token is None:
            return
        given = dict(request.headers).get(b"authorization", b"").decode(errors="replace")
        if not hmac.compare_digest(given, f"Bearer {self._token}"):
            raise HttpError(401, "a bearer token is required")

    async def _route(self, method: str, path: str, body: bytes) -> dict[str, Any]:
        parts = [p for p in path.split("/") if p]
        if method == "GET" and parts == ["healthz"]:
            return {"status": "ok"}
        if method == "GET" and parts == ["alarms"]:
            return {"items": [self._alarm_json(o) for o in self._actions.open_alarms()]}
        if method == "POST" and len(parts) == 3 and parts[0] == "alarms":
            target, action = parts[1], parts[2]
            try:
                if action == "ack":
                    ack = _Ack.model_validate_json(body)
                    await self._actions.acknowledge(target, ack.by, ack.note, "agent-panel")
                    return {"acknowledged": target}
                if action == "shelve":
                    shelve = _Shelve.model_validate_json(body)
                    minutes = timedelta(minutes=shelve.minutes) if shelve.minutes else None
                    await self._actions.shelve(target, minutes, shelve.reason, shelve.by)
                    return {"shelved": target, "minutes": shelve.minutes}
                if action == "flags" and self._actions.set_flags is not None:
                    flags = _Flags.model_validate_json(body)
                    await self._actions.set_flags(
                        target, flags.suppressed, flags.out_of_service, flags.by, flags.reason
                    )
                    return {
                        "alarm": target,
                        "suppressed": flags.suppressed,
                        "out_of_service": flags.out_of_service,
                    }
            except ValidationError as exc:
                raise HttpError(422, _reason(exc)) from exc
            except AlarmError as exc:
                raise HttpError(404 if "no open alarm" in str(exc) else 422, str(exc)) from exc
        raise HttpError(404, f"no such endpoint: {method} {path}")


async def _read_request(
    conn: h11.Connection, reader: asyncio.StreamReader
) -> tuple[h11.Request | None, bytes]:
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            conn.receive_data(data)
            if not data and request is None:
                return None, b""
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body.extend(event.data)
            if len(body) > MAX_BODY:
                raise HttpError(413, "body too large")
        elif isinstance(event, h11.EndOfMessage):
            return request, bytes(body)
        elif isinstance(event, h11.ConnectionClosed):
            return None, b""


def _occurrence_json(occurrence: Any) -> dict[str, Any]:
    data = asdict(occurrence)
    data["state"] = occurrence.state.value
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}


def _reason(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
    )
