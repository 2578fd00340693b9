"""``floorgate check-config``: exit 0 on a valid file; exit 1 naming file, key path and problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from floorgate.configfile import key_path
from hub.config import HubConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "deploy" / "examples"


def check(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "floorgate", "check-config", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", ["agent.yaml", "hub.yaml"])
def test_examples_are_valid(name: str) -> None:
    result = check(EXAMPLES / name)
    assert result.returncode == 0, result.stderr
    kind = name.removesuffix(".yaml")
    assert result.stdout.strip() == f"{EXAMPLES / name}: valid {kind} config"


def _agent(**changes: object) -> dict:
    data = yaml.safe_load((EXAMPLES / "agent.yaml").read_text())
    data.update(changes)
    return data


def _with_tag(index: int, **fields: object) -> dict:
    data = _agent()
    data["sources"][0]["tags"][index].update(fields)
    return data


def _bad_rule(**fields: object) -> dict:
    data = _agent()
    data["rules"][0].update(fields)
    return data


BAD = [
    pytest.param(
        _with_tag(3, address=70000),
        "sources[0].tags[3].address: Input should be less than or equal to 65535 (got 70000)",
        id="address-out-of-range",
    ),
    pytest.param(
        _with_tag(1, type="float33"),
        "sources[0].tags[1].type: Input should be 'bool', 'int16', 'uint16', 'int32', 'uint32', "
        "'int64', 'uint64', 'float32', 'float64' or 'string' (got 'float33')",
        id="unknown-type",
    ),
    pytest.param(
        _with_tag(8, length=None),
        "sources[0].tags[8]: length is required for type string and only allowed there",
        id="string-without-length",
    ),
    pytest.param(
        _with_tag(2, name="press.temperature"),
        "sources[0].tags[2].name: tag 'press.temperature' is defined twice",
        id="duplicate-tag",
    ),
    pytest.param(
        _with_tag(0, adress=5),
        "sources[0].tags[0].adress: Extra inputs are not permitted (got 5)",
        id="typo-in-key",
    ),
    pytest.param(
        _bad_rule(tag="press.tempreature"),
        "rules[0].tag: no source defines tag 'press.tempreature'",
        id="rule-on-unknown-tag",
    ),
    pytest.param(
        _bad_rule(hi=95),
        "rules[0]: limits must rise strictly in the order lolo < lo < hi < hihi",
        id="limits-out-of-order",
    ),
    pytest.param(
        _bad_rule(on_delay="soon"),
        "rules[0].on_delay: not a duration: 'soon' (use e.g. 500ms, 2s, 15min, 1h) (got 'soon')",
        id="bad-duration",
    ),
    pytest.param(
        _agent(agent_id="press line 1"),
        "agent_id: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' "
        "(got 'press line 1')",
        id="bad-agent-id",
    ),
    pytest.param(
        {k: v for k, v in _agent().items() if k != "hub"},
        "hub: Field required",
        id="missing-hub",
    ),
    pytest.param(
        {"listen": {"port": "eighty"}},
        "listen.port: Input should be a valid integer, unable to parse string as an "
        "integer (got 'eighty')",
        id="hub-bad-port",
    ),
    pytest.param(
        {"speed": 3},
        "cannot tell what this configures: an agent config has agent_id, a hub config has "
        f"any of {', '.join(sorted(HubConfig.model_fields))}, a playbook has match and steps",
        id="unknown-kind",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD)
def test_bad_file_names_file_key_and_problem(tmp_path: Path, data: dict, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    result = check(path)
    assert result.returncode == 1
    assert result.stderr.strip() == f"{path}: {message}"
    assert "Traceback" not in result.stderr


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("agent_id: a\nsources:\n  - kind: [modbus_tcp\n")
    result = check(path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{path}: not valid YAML: line 4, column 1: ")


def test_missing_file(tmp_path: Path) -> None:
    result = check(tmp_path / "nope.yaml")
    assert result.returncode == 1
    assert result.stderr.startswith(f"{tmp_path / 'nope.yaml'}: cannot read the file: ")


def test_one_bad_file_fails_the_run_but_all_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent_id: a\n")
    result = check(bad, EXAMPLES / "hub.yaml")
    assert result.returncode == 1
    assert "valid hub config" in result.stdout
    assert f"{bad}: hub: Field required" in result.stderr


@pytest.mark.parametrize(
    ("loc", "data", "expected"),
    [
        (
            ("sources", 0, "modbus_tcp", "tags", 1, "address"),
            {"sources": [{"kind": "modbus_tcp", "tags": [{}, {}]}]},
            "sources[0].tags[1].address",
        ),
        (("hub", "url"), {"hub": {}}, "hub.url"),
        ((), {}, ""),
    ],
)
def test_key_path_skips_union_tags(loc: tuple, data: dict, expected: str) -> None:
    assert key_path(loc, data) == expected


def test_devices_on_one_serial_line_must_agree(tmp_path: Path) -> None:
    data = _agent()
    unit = {
        "kind": "modbus_rtu",
        "serial": {"device": "/dev/ttyUSB0", "baudrate": 19200},
        "tags": [{"name": "a", "address": 0}],
    }
    data["sources"] = [
        {**unit, "name": "u1", "unit": 1},
        {
            **unit,
            "name": "u2",
            "unit": 2,
            "serial": {"device": "/dev/ttyUSB0", "baudrate": 9600},
            "tags": [{"name": "b", "address": 0}],
        },
    ]
    data["rules"] = []
    path = tmp_path / "rtu.yaml"
    path.write_text(yaml.safe_dump(data))
    result = check(path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"{path}: sources[1].serial: line /dev/ttyUSB0 is set up differently in sources[0]: "
        "every device on one line must use the same settings"
    )


@pytest.mark.parametrize("name", sorted(p.name for p in (EXAMPLES / "playbooks").glob("*.yaml")))
def test_example_playbooks_are_valid(name: str) -> None:
    path = EXAMPLES / "playbooks" / name
    result = check(path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{path}: valid playbook config"


def test_bad_playbook_names_the_key(tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLES / "playbooks" / "machine-down.yaml").read_text())
    data["steps"][0]["steps"][0]["due"] = "soon"
    path = tmp_path / "playbook.yaml"
    path.write_text(yaml.safe_dump(data))
    result = check(path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{path}: steps[0].")
    assert "due" in result.stderr
