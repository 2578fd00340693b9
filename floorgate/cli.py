"""``floorgate``: one entry point, a subcommand per job; heavy imports happen inside each one."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from floorgate import __version__
from floorgate.configfile import ConfigError, load, read_yaml, validate

log = logging.getLogger("floorgate")

DEFAULT_HUB_DB = Path("data/hub.duckdb")


USER_ROLES = (
    "operator",
    "maintenance",
    "quality",
    "production",
    "procurement",
    "logistics",
    "planner",
    "supervisor",
    "admin",
    "panel",
)
"""The hub's roles (``hub.auth.schemas.Role``), spelled out so that ``floorgate agent`` never
imports a hub module to build its parser; a test keeps the two lists equal."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request or reconnect attempt would drown the state changes that
    # matter; our own supervisors log those once per transition.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    # asyncua logs a traceback per lost session; the OPC UA adapter reports the loss itself.
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="floorgate",
        description=(
            "Edge agents that read the floor and catch drift; a hub that governs the response."
        ),
    )
    parser.add_argument("--version", action="version", version=f"floorgate {__version__}")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    hub = commands.add_parser("hub", help="run the hub (HTTP API, storage)")
    hub.add_argument("--config", type=Path, help="hub config YAML (defaults apply without it)")
    hub.add_argument(
        "--db", type=Path, help="DuckDB file, with its DB.journal/ folder (overrides storage.path)"
    )
    hub.add_argument("--host", help="listen address (overrides listen.host)")
    hub.add_argument("--port", type=int, help="listen port (overrides listen.port)")
    hub.set_defaults(command=_hub)

    agent = commands.add_parser("agent", help="run an edge agent")
    agent.add_argument("--config", type=Path, required=True, help="agent config YAML")
    agent.set_defaults(command=_agent)

    sim = commands.add_parser("sim", help="serve the simulated plant, or inject a fault into it")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--modbus-port", type=int, default=5020)
    sim.add_argument("--control-port", type=int, default=8401)
    sim.add_argument("--opcua-port", type=int, default=4840, help="0 serves no OPC UA")
    sim.add_argument("--seed", type=int, default=1, help="makes the noise repeatable")
    sim.add_argument("--fault", action="append", default=[], help="start with this fault")
    sim.add_argument(
        "--mqtt", metavar="HOST:PORT", help="also publish JSON and Sparkplug B to this broker"
    )
    sim.set_defaults(command=_sim)
    sim_actions = sim.add_subparsers(title="actions", metavar="ACTION")
    fault = sim_actions.add_parser("fault", help="inject (or --clear) a fault in a running sim")
    fault.add_argument("name", help="overtemp, machine_down, drift, rate_drop, silo_low, ...")
    fault.add_argument("--clear", action="store_true", help="clear the fault instead")
    fault.add_argument("--control", default="http://127.0.0.1:8401", help="sim control URL")
    fault.set_defaults(command=_sim_fault)

    demo = commands.add_parser(
        "demo", help="run hub + simulated plant + agent; inject the faults of the four scenarios"
    )
    demo.add_argument("--duration", type=float, help="stop after this many seconds")
    demo.add_argument("--data", type=Path, default=Path("data/demo"), help="data folder")
    demo.add_argument("--hub-port", type=int, default=8400)
    demo.add_argument("--modbus-port", type=int, default=5020)
    demo.add_argument("--control-port", type=int, default=8401)
    demo.add_argument("--panel-port", type=int, default=8410, help="the agent's local API")
    demo.add_argument("--opcua-port", type=int, default=4840, help="the sim's OPC UA server")
    demo.set_defaults(command=_demo)

    check = commands.add_parser("check-config", help="validate agent or hub config files")
    check.add_argument("files", type=Path, nargs="+", metavar="FILE")
    check.set_defaults(command=_check_config)

    user = commands.add_parser("user", help="manage hub users")
    user_actions = user.add_subparsers(title="actions", metavar="ACTION", required=True)
    user_add = user_actions.add_parser("add", help="add a user to the hub database")
    user_add.add_argument("username")
    user_add.add_argument(
        "--role",
        required=True,
        choices=USER_ROLES,
        help="a person's function, or panel: the shared HMI device of an area (give --area);"
        " it reads its area and acts only for a person who identifies with a PIN or password",
    )
    user_add.add_argument("--full-name", help="recorded with the user's electronic signatures")
    user_add.add_argument("--site", action="append", default=[], help="repeat for several")
    user_add.add_argument("--area", action="append", default=[], help="repeat for several")
    user_add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    user_add.add_argument(
        "--pin-stdin",
        action="store_true",
        help="also read a personal PIN (6-12 digits, for HMI panels) from the next stdin line",
    )
    _db_option(user_add)
    user_add.set_defaults(command=_user_add)

    browse = commands.add_parser("browse", help="list the variables of an OPC UA server")
    browse.add_argument("endpoint", metavar="URL", help="opc.tcp://host:port")
    browse.add_argument("--depth", type=int, default=6, help="levels below Objects (6)")
    browse.add_argument("--username")
    browse.add_argument("--password-file", type=Path)
    browse.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    browse.set_defaults(command=_browse)

    cert = commands.add_parser("cert", help="OPC UA client certificates")
    cert_actions = cert.add_subparsers(title="actions", metavar="ACTION", required=True)
    cert_create = cert_actions.add_parser(
        "create", help="make a self-signed client certificate and key for OPC UA"
    )
    cert_create.add_argument(
        "--cert", type=Path, required=True, help="certificate file (.der/.pem)"
    )
    cert_create.add_argument("--key", type=Path, required=True, help="private key file (PEM)")
    cert_create.add_argument(
        "--uri", help="application URI (urn:floorgate:agent:HOSTNAME by default)"
    )
    cert_create.add_argument("--name", help="common name (floorgate agent HOSTNAME by default)")
    cert_create.add_argument("--days", type=int, default=365)
    cert_create.add_argument("--overwrite", action="store_true")
    cert_create.set_defaults(command=_cert_create)

    audit = commands.add_parser("audit", help="check the hub's audit trail")
    audit_actions = audit.add_subparsers(title="actions", metavar="ACTION", required=True)
    verify = audit_actions.add_parser(
        "verify", help="verify the hash chain offline; exit 1 naming the first bad record"
    )
    _db_option(verify)
    verify.add_argument(
        "--anchor",
        action="append",
        default=[],
        metavar="SEQ:HASH",
        help="a record's hash written down earlier (verify prints one); repeatable",
    )
    verify.set_defaults(command=_audit_verify)

    token = commands.add_parser("token", help="manage agent tokens")
    token_actions = token.add_subparsers(title="actions", metavar="ACTION", required=True)
    token_create = token_actions.add_parser("create", help="create an agent's token (shown once)")
    token_create.add_argument("--agent", required=True, metavar="AGENT_ID")
    _db_option(token_create)
    token_create.set_defaults(command=_token_create)
    return parser


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, default=DEFAULT_HUB_DB, help=f"hub DuckDB file ({DEFAULT_HUB_DB})"
    )


def _hub(args: argparse.Namespace) -> int:
    from hub.config import HubConfig
    from hub.serve import run

    config = load(args.config, HubConfig) if args.config else HubConfig()
    overrides: dict[str, Any] = {}
    if args.db:
        overrides["storage"] = config.storage.model_copy(update={"path": args.db})
    if args.host or args.port is not None:
        listen = config.listen.model_copy(
            update={
                "host": args.host or config.listen.host,
                "port": config.listen.port if args.port is None else args.port,
            }
        )
        overrides["listen"] = listen
    run(config.model_copy(update=overrides))
    return 0


def _agent(args: argparse.Namespace) -> int:
    from edge_agent.app import AgentError, read_token, run_agent
    from edge_agent.config import AgentConfig

    config = load(args.config, AgentConfig)
    try:
        token = read_token(config)
    except AgentError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 1
    asyncio.run(run_agent(config, token, partial(load, args.config, AgentConfig)))
    return 0


def _sim(args: argparse.Namespace) -> int:
    from protocols.sim.plant import Fault
    from protocols.sim.run import SimSettings, serve

    try:
        faults = tuple(Fault(name) for name in args.fault)
    except ValueError as exc:
        print(f"--fault: {exc}", file=sys.stderr)
        return 2
    broker = None
    if args.mqtt:
        host, _, port = args.mqtt.rpartition(":")
        if not host or not port.isdigit():
            print(f"--mqtt: expected HOST:PORT, got {args.mqtt!r}", file=sys.stderr)
            return 2
        broker = (host, int(port))
    settings = SimSettings(
        args.host,
        args.modbus_port,
        args.control_port,
        args.seed,
        faults,
        opcua_port=args.opcua_port,
        mqtt_broker=broker,
    )
    asyncio.run(serve(settings))
    return 0


def _sim_fault(args: argparse.Namespace) -> int:
    import httpx

    url = f"{args.control.rstrip('/')}/faults/{args.name}"
    try:
        response = httpx.request("DELETE" if args.clear else "POST", url, timeout=5)
    except httpx.HTTPError as exc:
        print(f"cannot reach the sim at {args.control}: {exc}", file=sys.stderr)
        return 1
    if response.status_code != 200:
        print(response.json().get("detail", response.text), file=sys.stderr)
        return 1
    print("active faults:", ", ".join(response.json()["faults"]) or "none")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from floorgate.demo import DemoSettings, run_demo

    settings = DemoSettings(
        data=args.data,
        duration=args.duration,
        hub_port=args.hub_port,
        modbus_port=args.modbus_port,
        control_port=args.control_port,
        panel_port=args.panel_port,
        opcua_port=args.opcua_port,
    )
    return run_demo(settings)


def _check_config(args: argparse.Namespace) -> int:
    failed = False
    for path in args.files:
        try:
            kind = check_file(path)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            failed = True
        else:
            print(f"{path}: valid {kind} config")
    return 1 if failed else 0


def check_file(path: Path) -> str:
    """Validate one file as whichever config it is; returns that kind."""
    from edge_agent.config import AgentConfig
    from hub.config import HubConfig

    data = read_yaml(path)
    if "agent_id" in data:
        validate(path, data, AgentConfig)
        return "agent"
    if data.keys() & HubConfig.model_fields.keys():
        validate(path, data, HubConfig)
        return "hub"
    if "steps" in data and "match" in data:
        from hub.playbooks.loader import validate_playbook_file

        validate_playbook_file(path)
        return "playbook"
    keys = ", ".join(sorted(HubConfig.model_fields))
    raise ConfigError(
        path,
        [
            (
                "",
                f"cannot tell what this configures: an agent config has agent_id, a hub config "
                f"has any of {keys}, a playbook has match and steps",
            )
        ],
    )


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the passwords differ")
    return first


def _user_add(args: argparse.Namespace) -> int:
    from hub.admin import add_user

    if args.pin_stdin and args.role == "panel":
        # Refused before anything is stored, rather than a panel added without its PIN.
        print("user add: a panel has no PIN: people identify at it with their own", file=sys.stderr)
        return 1
    try:
        password = _read_password(args.password_stdin)
        add_user(args.db, args.username, args.role, password, args.site, args.area)
        if args.full_name:
            from hub.governance.admin import set_full_name

            set_full_name(args.db, args.username, args.full_name)
        if args.pin_stdin:
            from hub.admin import set_pin

            set_pin(args.db, args.username, sys.stdin.readline().rstrip("\r\n"))
    except ValueError as exc:
        print(f"user add: {exc}", file=sys.stderr)
        return 1
    print(f"user {args.username} added with role {args.role}")
    return 0


def _browse(args: argparse.Namespace) -> int:
    from protocols.base import ProtocolError
    from protocols.opcua_browse import browse

    password = args.password_file.read_text().strip() if args.password_file else None
    try:
        found = asyncio.run(
            browse(
                args.endpoint,
                max_depth=args.depth,
                username=args.username,
                password=password,
                request_timeout=args.timeout,
            )
        )
    except ProtocolError as exc:
        print(f"browse: {exc}", file=sys.stderr)
        return 1
    rows = [("NODE ID", "PATH", "TYPE", "VALUE")]
    rows += [(v.node_id, v.path, v.data_type, str(v.value)) for v in found]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[3]
        )
    return 0


def _cert_create(args: argparse.Namespace) -> int:
    import socket

    from protocols.opcua_cert import create_certificate

    host = socket.gethostname()
    try:
        create_certificate(
            args.cert,
            args.key,
            application_uri=args.uri or f"urn:floorgate:agent:{host}",
            common_name=args.name or f"floorgate agent {host}",
            days=args.days,
            overwrite=args.overwrite,
        )
    except (OSError, ValueError) as exc:
        print(f"cert create: {exc}", file=sys.stderr)
        return 1
    print(f"certificate {args.cert}, key {args.key}: give the certificate to the server to trust")
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    from floorgate.audit_cli import verify_command

    return verify_command(args.db, args.anchor)


def _token_create(args: argparse.Namespace) -> int:
    from hub.admin import create_agent_token

    try:
        token = create_agent_token(args.db, args.agent)
    except ValueError as exc:
        print(f"token create: {exc}", file=sys.stderr)
        return 1
    print(token)
    return 0
