"""Keyset paging shared by list endpoints: ``{"items": [...], "next": cursor | null}``.

A cursor is opaque to clients (URL-safe base64 of the sort key of the last item sent), so the
sort key can change without breaking the API contract.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Generic, TypeVar

from pydantic import BaseModel

from hub.errors import Unprocessable
from hub.storage import BIGINT_MAX

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

CursorKey = list[str | int]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: str | None = None
    """Pass as ``after`` to get the following page; null on the last page."""


def encode_cursor(key: CursorKey) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, shape: tuple[type, ...]) -> CursorKey:
    """The key inside ``cursor``; raises Unprocessable unless its items have the types ``shape``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise Unprocessable("invalid cursor 'after'") from exc
    if not (
        isinstance(key, list)
        and len(key) == len(shape)
        and all(type(part) is kind for part, kind in zip(key, shape, strict=True))
        # A client can forge a cursor: its numbers must fit the BIGINT columns they are keys of.
        and all(-BIGINT_MAX - 1 <= part <= BIGINT_MAX for part in key if type(part) is int)
    ):
        raise Unprocessable("invalid cursor 'after'")
    return key
