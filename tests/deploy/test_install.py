"""deploy/install.sh, run for real into a staging root (``--root``) for each role.

Each role is installed once per module (the dependency install is the slow part): from this
checkout, with the uv that ``make`` put in .venv and ``UV_OFFLINE=1``, so the pinned wheels come
from uv's cache and the test needs no network. Commands that would change the live system
(useradd, groupadd, systemctl, chown) are shadowed on PATH by recorders that fail: a staged
install must call none of them.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "deploy" / "install.sh"
INSTALL_TIMEOUT = 300
LIVE_SYSTEM_COMMANDS = ("useradd", "groupadd", "usermod", "systemctl", "chown")
COMMANDS = ("hub", "agent", "sim", "demo", "check-config", "user", "token", "audit")


# Where a live install writes: a staged one must leave them as they were.
LIVE_PATHS = (
    Path("/opt/floorgate"),
    Path("/etc/floorgate"),
    Path("/var/lib/floorgate"),
    Path("/etc/systemd/system/floorgate-agent.service"),
    Path("/etc/systemd/system/floorgate-hub.service"),
)


def live_state() -> dict[Path, int | None]:
    """The modification time of each live path, None where it does not exist."""
    return {path: path.stat().st_mtime_ns if path.exists() else None for path in LIVE_PATHS}


@dataclass
class Staged:
    role: str
    root: Path
    first: subprocess.CompletedProcess[str]
    calls_log: Path
    env: dict[str, str]
    live_before: dict[Path, int | None]

    @property
    def floorgate(self) -> Path:
        return self.root / "opt" / "floorgate" / ".venv" / "bin" / "floorgate"

    @property
    def config(self) -> Path:
        return self.root / "etc" / "floorgate" / f"{self.role}.yaml"

    @property
    def unit(self) -> Path:
        return self.root / "etc" / "systemd" / "system" / f"floorgate-{self.role}.service"


def _install_env(tmp: Path) -> tuple[dict[str, str], Path]:
    """The caller's environment, with the live-system commands shadowed by failing recorders."""
    shadow = tmp / "shadow-bin"
    shadow.mkdir()
    calls_log = tmp / "live-system-calls.log"
    for name in LIVE_SYSTEM_COMMANDS:
        recorder = shadow / name
        recorder.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls_log}"\nexit 1\n')
        recorder.chmod(0o755)
    uv = Path(sys.executable).parent / "uv"
    assert uv.exists(), f"{uv} missing: set up the venv with make first"
    env = dict(os.environ)
    env["PATH"] = f"{shadow}{os.pathsep}{env['PATH']}"
    env["UV"] = str(uv)
    env["UV_OFFLINE"] = "1"
    env.pop("PYTHON", None)
    return env, calls_log


def run_install(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INSTALL), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module", params=["agent", "hub"])
def staged(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Staged:
    role: str = request.param
    tmp = tmp_path_factory.mktemp(f"install-{role}")
    env, calls_log = _install_env(tmp)
    root = tmp / "root"
    live_before = live_state()
    first = run_install(role, "--root", root, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    return Staged(role, root, first, calls_log, env, live_before)


def test_uv_version_is_the_makefiles() -> None:
    makefile = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    script = re.search(r"^readonly UV_VERSION=(\S+)$", INSTALL.read_text(), re.M)
    assert makefile and script
    assert script[1] == makefile[1]


def test_installed_cli_runs_and_lists_the_commands(staged: Staged) -> None:
    result = subprocess.run(
        [str(staged.floorgate), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    listed = set(re.findall(r"^    (\S+)", result.stdout, re.M))
    assert set(COMMANDS) <= listed, result.stdout


def test_unit_and_example_config_are_in_place_with_their_modes(staged: Staged) -> None:
    assert (
        staged.unit.read_bytes()
        == (ROOT / "deploy" / "systemd" / f"floorgate-{staged.role}.service").read_bytes()
    )
    assert stat.S_IMODE(staged.unit.stat().st_mode) == 0o644
    assert (
        staged.config.read_bytes()
        == (ROOT / "deploy" / "examples" / f"{staged.role}.yaml").read_bytes()
    )
    assert stat.S_IMODE(staged.config.stat().st_mode) == 0o640
    assert stat.S_IMODE(staged.config.parent.stat().st_mode) == 0o750
    data = staged.root / "var" / "lib" / "floorgate"
    assert stat.S_IMODE(data.stat().st_mode) == 0o755
    # The paths the unit runs are the ones installed (under the staging root).
    unit_text = staged.unit.read_text()
    assert f"ExecStart=/opt/floorgate/.venv/bin/floorgate {staged.role}" in unit_text
    assert f"--config /etc/floorgate/{staged.role}.yaml" in unit_text


def test_installed_config_passes_check_config(staged: Staged) -> None:
    assert f"{staged.config}: valid {staged.role} config" in staged.first.stdout
    result = subprocess.run(
        [str(staged.floorgate), "check-config", str(staged.config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_next_steps_are_printed(staged: Staged) -> None:
    out = staged.first.stdout
    assert f"systemctl enable --now floorgate-{staged.role}" in out
    assert "token create --agent" in out
    if staged.role == "agent":
        assert "/etc/floorgate/agent.token" in out
    else:
        assert "user add admin --role admin" in out


def test_a_staged_install_changes_nothing_outside_its_root(staged: Staged) -> None:
    assert not staged.calls_log.exists(), staged.calls_log.read_text()
    assert live_state() == staged.live_before
    assert sorted(p.name for p in staged.root.iterdir()) == ["etc", "opt", "var"]
    assert f"Staged under {staged.root}" in staged.first.stdout


def test_rerun_keeps_an_edited_config_and_replaces_the_code(staged: Staged) -> None:
    edited = staged.config.read_bytes() + b"# edited by the operator\n"
    staged.config.write_bytes(edited)
    staged.config.chmod(0o600)
    leftover = staged.root / "opt" / "floorgate" / "hub" / "removed_upstream.py"
    leftover.write_text("gone = False\n")
    staged.unit.write_text("[Unit]\nDescription=stale\n")

    again = run_install(staged.role, "--root", staged.root, env=staged.env)

    assert again.returncode == 0, again.stdout + again.stderr
    assert staged.config.read_bytes() == edited
    assert stat.S_IMODE(staged.config.stat().st_mode) == 0o600
    assert "kept" in again.stdout
    assert not leftover.exists()
    assert "Description=Floorgate" in staged.unit.read_text()
    version = subprocess.run(
        [str(staged.floorgate), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert version.returncode == 0 and version.stdout.startswith("floorgate "), version.stderr
    assert not staged.calls_log.exists()
    assert live_state() == staged.live_before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["gateway"], "unknown argument 'gateway': the role is agent or hub", id="bad"),
        pytest.param([], "missing the role: agent or hub", id="no-role"),
        pytest.param(["agent", "hub"], "the role is given twice", id="two-roles"),
        pytest.param(["agent", "--start"], "unknown argument '--start'", id="option"),
    ],
)
def test_bad_arguments_exit_non_zero_and_install_nothing(
    args: list[str], message: str, tmp_path: Path
) -> None:
    env, calls_log = _install_env(tmp_path)
    root = tmp_path / "root"
    # --root first: even a broken parser could not reach the live system.
    result = run_install("--root", root, *args, env=env)
    assert result.returncode != 0
    assert f"install.sh: error: {message}" in result.stderr
    assert "usage: sudo deploy/install.sh agent|hub [--root DIR] [--no-start]" in result.stderr
    assert not root.exists() or not any(root.iterdir())
    assert not calls_log.exists()


def test_missing_python_is_named(tmp_path: Path) -> None:
    env, _ = _install_env(tmp_path)
    env["PYTHON"] = str(tmp_path / "no-such-python3")
    root = tmp_path / "root"
    result = run_install("agent", "--root", root, env=env)
    assert result.returncode == 1
    assert f"{env['PYTHON']} not found: install Python >= 3.11" in result.stderr
    assert not (root / "opt").exists()


def _an_old_python() -> str | None:
    """A Python older than 3.11 that runs here (on PATH or from pyenv), if there is one."""
    found = [shutil.which(f"python3.{minor}") for minor in (10, 9, 8)]
    found += sorted(map(str, Path.home().glob(".pyenv/versions/3.*/bin/python3")))
    for candidate in filter(None, found):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info < (3, 11))"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return candidate
    return None


def test_python_older_than_311_is_refused(tmp_path: Path) -> None:
    old = _an_old_python()
    if old is None:
        pytest.skip("no Python older than 3.11 on this machine")
    env, _ = _install_env(tmp_path)
    env["PYTHON"] = old
    result = run_install("agent", "--root", tmp_path / "root", env=env)
    assert result.returncode == 1
    assert f"Floorgate needs Python >= 3.11; {old} is Python 3." in result.stderr
    assert not (tmp_path / "root" / "opt").exists()
