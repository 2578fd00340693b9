"""The ingest journal: append-only files where accepted batches are made durable first.

An agent's reply waits for its events to be on disk, not for DuckDB: planning and committing a
DuckDB statement costs several milliseconds whatever its size, so writing each batch there on
the reply path capped ingest near 40,000 events/s. Instead a batch is one line appended to the
current segment file and made durable with ``fdatasync`` (one sync covers every line written
before it started: group commit), and the loader (``hub.ingest.writer``) moves whole segments
into DuckDB behind the replies, one transaction each.

A line is the batch as validated (never the raw body): its agent, the time it arrived, the
events as ``hub.storage.event_json`` writes them, and which of them are new. Segment ``N`` is
``NNNNNNNNNNNN.jsonl`` in the journal folder; DuckDB records the last segment it loaded in the
same transaction as its rows, so a segment is loaded exactly once across crashes. A line torn
by a crash was never acknowledged (its sync had not returned) and is cut off on recovery.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from hub.storage.event_json import EventsJson

SUFFIX = ".jsonl"


@dataclass(eq=False)
class Segment:
    """One journal file; lines are appended until the loader takes it."""

    id: int
    path: Path
    fd: int | None = None
    lines: int = 0
    dir_synced: bool = False
    """Whether the folder entry of this file is on disk (synced once, with its first lines)."""

    def _sync(self, folder: Path) -> None:
        if not self.dir_synced:
            fsync_folder(folder)
            self.dir_synced = True
        if self.fd is not None:
            os.fdatasync(self.fd)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def line_of(doc: EventsJson, received_at: datetime, keep: Sequence[bool] | None) -> bytes:
    """The journal line of one batch: ``doc``'s events, those flagged in ``keep`` (all if None).

    Keys left out read back as NULL: ``context`` when each event carries its own, ``keep``
    when every event is new.
    """
    parts = [b'{"agent_id":', json.dumps(doc.agent_id).encode()]
    parts += [b',"received_at":"', received_at.isoformat().encode(), b'"']
    if keep is not None:
        parts += [b',"keep":[', b",".join(b"true" if k else b"false" for k in keep), b"]"]
    if doc.context is not None:
        parts += [b',"context":', doc.context.encode()]
    parts += [b',"events":', doc.text.encode(), b"}\n"]
    return b"".join(parts)


@dataclass
class Journal:
    """The journal folder of one hub; used from the event loop only.

    Args:
        folder: where the segment files live (created if missing).
        next_id: the id of the next segment to open.
    """

    folder: Path
    next_id: int = 1
    _current: Segment | None = None
    _dirty: dict[int, Segment] = field(default_factory=dict)
    """Segments written since their last sync, in id order."""
    _written: int = 0
    """Lines appended since the journal opened."""
    _synced: int = 0
    """Of those, how many are known to be on disk."""
    _sync_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def position(self) -> int:
        """A ticket for everything appended so far (see ``durable``)."""
        return self._written

    @property
    def has_lines(self) -> bool:
        return self._current is not None and self._current.lines > 0

    def append(self, line: bytes) -> int:
        """Write one line to the current segment (not yet durable); return its ticket."""
        segment = self._current
        if segment is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{self.next_id:012d}{SUFFIX}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
            segment = self._current = Segment(self.next_id, path, fd)
            self.next_id += 1
        assert segment.fd is not None
        # One write of a whole line: an O_APPEND write is never interleaved with another.
        view = memoryview(line)
        while view:
            view = view[os.write(segment.fd, view) :]
        segment.lines += 1
        self._dirty[segment.id] = segment
        self._written += 1
        return self._written

    async def durable(self, ticket: int) -> None:
        """Return once every line up to ``ticket`` is on disk.

        Callers queue on one lock; whoever holds it syncs all that was written by then, so the
        ones behind it usually find their lines synced already.
        """
        async with self._sync_lock:
            if self._synced >= ticket:
                return
            target, dirty = self._written, list(self._dirty.values())
            self._dirty.clear()
            try:
                await asyncio.to_thread(_sync_all, self.folder, dirty)
            except BaseException:
                for segment in dirty:  # still to be synced by the next caller
                    self._dirty.setdefault(segment.id, segment)
                raise
            self._synced = target

    async def take(self) -> Segment | None:
        """Close the current segment to new lines and return it once it is durable (None if
        nothing was written); the next line opens a new segment."""
        segment, self._current = self._current, None
        if segment is None or segment.lines == 0:
            if segment is not None:
                segment.close()
            return None
        await self.durable(self._written)
        segment.close()
        return segment

    def close(self) -> None:
        """Close the open file (its lines stay for the next start to load)."""
        if self._current is not None:
            self._current.close()
            self._current = None


def _sync_all(folder: Path, segments: list[Segment]) -> None:
    for segment in segments:
        segment._sync(folder)


def fsync_folder(folder: Path) -> None:
    """Make the folder's entries durable (a new or removed file survives a power cut)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def leftover_segments(folder: Path) -> list[Segment]:
    """Segments a previous run left in ``folder``, in id order, each cut after its last whole
    line (a torn line was never acknowledged). Empty files are removed."""
    if not folder.is_dir():
        return []
    segments = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        if not path.stem.isdigit():
            continue
        data = path.read_bytes()
        whole = data[: data.rfind(b"\n") + 1]
        if len(whole) != len(data):
            with path.open("r+b") as file:
                file.truncate(len(whole))
                os.fsync(file.fileno())
        if not whole:
            path.unlink()
            continue
        segments.append(Segment(int(path.stem), path, lines=whole.count(b"\n"), dir_synced=True))
    return segments


def set_aside(segment: Segment, bad: list[bytes], kept: list[bytes]) -> Path:
    """Append ``bad`` lines to ``rejected/<id>.jsonl`` and leave ``kept`` in the segment; both
    durable before the segment changes, so no line is ever in neither file."""
    folder = segment.path.parent / "rejected"
    folder.mkdir(exist_ok=True)
    rejected = folder / segment.path.name
    with rejected.open("ab") as file:
        file.write(b"".join(bad))
        os.fsync(file.fileno())
    fsync_folder(folder)
    replacement = segment.path.with_suffix(".tmp")
    with replacement.open("wb") as file:
        file.write(b"".join(kept))
        os.fsync(file.fileno())
    os.replace(replacement, segment.path)
    fsync_folder(segment.path.parent)
    return rejected
