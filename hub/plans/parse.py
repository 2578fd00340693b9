"""Plan uploads as JSON or CSV, into validated entries; any bad row refuses the whole upload.

CSV: a header row, then one entry per row, comma-separated, UTF-8 (a BOM is ignored). Columns
are the JSON field names; ``site``, ``line``, ``product``, ``start`` and ``end`` are required,
the others optional; an empty cell is "not given"; times are ISO-8601 with a zone offset
(``2026-03-02T06:00:00+01:00`` or ``...Z``). Errors name the file line (the header is line 1).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from hub.errors import Unprocessable
from hub.plans.schemas import MAX_ENTRIES, PlanEntryIn, PlanUpload

REQUIRED_COLUMNS = ("site", "line", "product", "start", "end")
COLUMNS = frozenset(PlanEntryIn.model_fields)
_NUMBERS = frozenset({"planned_quantity", "planned_rate_per_hour"})
_TIMES = frozenset({"start", "end"})
MAX_ERRORS = 20
"""Errors listed in one reply (all rows are checked; the count says how many failed)."""


def _messages(exc: ValidationError) -> list[str]:
    out = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        out.append(f"{where}: {message}" if where else message)
    return out


def parse_json(body: bytes) -> PlanUpload:
    try:
        return PlanUpload.model_validate_json(body)
    except ValidationError as exc:
        messages = _messages(exc)
        raise Unprocessable(_summary(messages, "field")) from exc


def _summary(messages: list[str], unit: str) -> str:
    shown = "; ".join(messages[:MAX_ERRORS])
    more = len(messages) - MAX_ERRORS
    suffix = f"; and {more} more" if more > 0 else ""
    return f"upload refused, nothing stored ({len(messages)} {unit} error(s)): {shown}{suffix}"


def _cell(column: str, text: str) -> Any:
    if column in _NUMBERS:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{column}: {text!r} is not a number") from None
    if column in _TIMES:
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{column}: {text!r} is not an ISO-8601 time") from None
        if value.tzinfo is None:
            raise ValueError(f"{column}: {text!r} needs a zone offset, e.g. Z or +01:00")
        return value
    return text


def parse_csv(body: bytes, source: str | None) -> tuple[PlanUpload, list[int]]:
    """The upload and, per entry, its line in the file (for errors found later)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unprocessable(f"the CSV is not UTF-8 (byte {exc.start})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise Unprocessable("the CSV is empty: expected a header row") from None
    except csv.Error as exc:
        raise Unprocessable(f"line 1: {exc}") from exc
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if unknown or missing or duplicated:
        parts = []
        if unknown:
            parts.append(f"unknown column(s) {unknown} (known: {sorted(COLUMNS)})")
        if missing:
            parts.append(f"missing column(s) {missing}")
        if duplicated:
            parts.append(f"repeated column(s) {duplicated}")
        raise Unprocessable("line 1 (header): " + "; ".join(parts))
    entries: list[PlanEntryIn] = []
    rows: list[int] = []
    errors: list[str] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(f"line {reader.line_num}: {exc}")
            break
        line_no = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # blank lines (a trailing newline, say) are not entries
        if len(row) != len(header):
            errors.append(f"line {line_no}: {len(row)} cells, the header has {len(header)}")
            continue
        if len(entries) + len(errors) >= MAX_ENTRIES:
            errors.append(f"line {line_no}: more than {MAX_ENTRIES} entries in one upload")
            break
        try:
            values = {
                column: _cell(column, cell.strip())
                for column, cell in zip(header, row, strict=True)
                if cell.strip()
            }
            entries.append(PlanEntryIn.model_validate(values))
            rows.append(line_no)
        except ValueError as exc:  # ValidationError is a ValueError
            found = _messages(exc) if isinstance(exc, ValidationError) else [str(exc)]
            errors += [f"line {line_no}: {message}" for message in found]
    if errors:
        raise Unprocessable(_summary(errors, "row"))
    if not entries:
        raise Unprocessable("the CSV has a header but no entries")
    return PlanUpload.model_construct(entries=entries, source=source), rows
