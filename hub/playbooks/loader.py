"""Read a folder of playbook files; each loaded text is pinned by the sha256 of its bytes.

``validate_playbook_file`` is what ``floorgate check-config`` calls for a playbook file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from floorgate.configfile import ConfigError, load, read_yaml, validate
from hub.playbooks.model import Playbook

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedPlaybook:
    playbook: Playbook
    version: str
    """sha256 of the file's bytes: the policy version pinned to every run it starts."""
    file: str
    content: str


def validate_playbook_file(path: Path) -> None:
    """Check one playbook file.

    Raises:
        ConfigError: naming the file and the key path of each problem.
    """
    load(path, Playbook)


def load_file(path: Path) -> LoadedPlaybook:
    """Raises ConfigError (also for a file that is not UTF-8 text)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(path, [("", f"cannot read the file: {exc}")]) from exc
    playbook = validate(path, read_yaml(path), Playbook)
    return LoadedPlaybook(
        playbook=playbook,
        version=hashlib.sha256(raw).hexdigest(),
        file=str(path),
        content=raw.decode("utf-8"),
    )


def load_folder(folder: Path) -> dict[str, LoadedPlaybook]:
    """Every playbook file of ``folder`` (not recursive), by playbook id.

    Raises:
        ConfigError: the folder cannot be read, or any file is invalid, or two files use one
            id; the problems of every file are collected before raising.
    """
    if not folder.is_dir():
        raise ConfigError(folder, [("", "the playbooks folder does not exist")])
    loaded: dict[str, LoadedPlaybook] = {}
    problems: list[tuple[str, str]] = []
    for path in sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file()):
        try:
            item = load_file(path)
        except ConfigError as exc:
            problems.extend(
                (f"{path.name}: {key}" if key else path.name, m) for key, m in exc.problems
            )
            continue
        first = loaded.get(item.playbook.id)
        if first is not None:
            problems.append(
                (f"{path.name}: id", f"{item.playbook.id!r} is also used by {first.file}")
            )
            continue
        loaded[item.playbook.id] = item
    if problems:
        raise ConfigError(folder, problems)
    return loaded
