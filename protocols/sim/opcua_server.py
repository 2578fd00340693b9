"""Serves the simulated plant over OPC UA (asyncua server), optionally secured with users.

Address space (namespace ``urn:floorgate:sim``, index 2 on this server; string node ids equal
the tag names, browse names are the last part of the tag name)::

    Objects/
      Press/      press.temperature  Double  degC
                  press.pressure     Double  bar
                  press.cycle_count  UInt32
                  press.state        Int32   0 stopped, 1 running, 2 down
                  press.setpoint     Double  degC, the one writable variable (starts at 62.0)
      Oven/       oven.zone1, oven.zone2, oven.zone3  Double  degC
      Packaging/  pack.count         UInt32
                  pack.lot           String  e.g. LOT-0001
      Silo/       silo.level         Double  percent

So ``ns=2;s=press.temperature`` and ``/Objects/2:Press/2:temperature`` name the same variable.
``publish()`` writes only values that changed, with the plant's time as SourceTimestamp, through
the server's direct write path (``write_attribute_value``: about 1.6x ``write_value``).

``secure=True`` offers only Basic256Sha256 Sign and SignAndEncrypt endpoints; client certificates
are checked for time, application URI, key usage and client extended key usage (any issuer is
trusted: this is a simulator). Without a certificate and key the server makes its own. ``users``
turns anonymous access off and checks user names and passwords.
"""

from __future__ import annotations

import datetime
import hmac
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from asyncua.server.server import Server
from asyncua.server.user_managers import UserManager
from asyncua.ua.status_codes import StatusCodes
from cryptography.hazmat.primitives.serialization import Encoding

from protocols.opcua_cert import generate_certificate
from protocols.sim.plant import Plant
from protocols.wire import Scalar

log = logging.getLogger(__name__)

NAMESPACE = "urn:floorgate:sim"
APPLICATION_URI = "urn:floorgate:sim:server"
SETPOINT = "press.setpoint"


@dataclass(frozen=True)
class Variable:
    tag: str
    folder: str
    type: ua.VariantType
    writable: bool = False

    @property
    def browse_name(self) -> str:
        return self.tag.rsplit(".", 1)[-1]


VARIABLES: tuple[Variable, ...] = (
    Variable("press.temperature", "Press", ua.VariantType.Double),
    Variable("press.pressure", "Press", ua.VariantType.Double),
    Variable("press.cycle_count", "Press", ua.VariantType.UInt32),
    Variable("press.state", "Press", ua.VariantType.Int32),
    Variable(SETPOINT, "Press", ua.VariantType.Double, writable=True),
    Variable("oven.zone1", "Oven", ua.VariantType.Double),
    Variable("oven.zone2", "Oven", ua.VariantType.Double),
    Variable("oven.zone3", "Oven", ua.VariantType.Double),
    Variable("pack.count", "Packaging", ua.VariantType.UInt32),
    Variable("pack.lot", "Packaging", ua.VariantType.String),
    Variable("silo.level", "Silo", ua.VariantType.Double),
)
_INITIAL_SETPOINT = 62.0


class _PasswordUsers(UserManager):
    """asyncua user manager: known user names with their passwords; nobody else."""

    def __init__(self, users: dict[str, str]) -> None:
        self._users = dict(users)

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | bytes | None = None,
        certificate: Any = None,
    ) -> User | None:
        if username is None or username not in self._users:
            return None
        given = password.encode() if isinstance(password, str) else (password or b"")
        if not hmac.compare_digest(given, self._users[username].encode()):
            return None
        return User(role=UserRole.User, name=username)


class OpcUaPlantServer:
    """An asyncua server whose variables follow the plant; it can be stopped to fake comm loss.

    Args:
        plant: The plant whose values are served.
        host: Loopback by default; the simulator is never meant for a plant network.
        port: TCP port.
        secure: Offer only Basic256Sha256 Sign and SignAndEncrypt endpoints.
        certificate: The server's certificate (DER or PEM); generated when absent.
        private_key: Its private key (PEM or DER).
        users: User name -> password; when given, anonymous sessions are refused.
    """

    def __init__(
        self,
        plant: Plant,
        host: str = "127.0.0.1",
        port: int = 4840,
        *,
        secure: bool = False,
        certificate: Path | None = None,
        private_key: Path | None = None,
        users: dict[str, str] | None = None,
    ) -> None:
        if (certificate is None) != (private_key is None):
            raise ValueError("certificate and private_key go together")
        self.plant = plant
        self.host = host
        self.port = port
        self.secure = secure
        self.certificate = certificate
        self.private_key = private_key
        self.users = users
        self.namespace_index = 0
        self.server_certificate: bytes | None = None
        """The server's certificate (DER) once started with ``secure``; clients may pin it."""
        self._server: Server | None = None
        self._nodes: dict[str, ua.NodeId] = {}
        self._published: dict[str, Scalar] = {}
        self._forced: dict[str, ua.StatusCode] = {}

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}"

    @property
    def serving(self) -> bool:
        return self._server is not None

    @property
    def server(self) -> Server:
        """The running asyncua server (benchmarks add their own variables to it)."""
        if self._server is None:
            raise RuntimeError("the OPC UA sim is not running")
        return self._server

    def node_id(self, tag: str) -> ua.NodeId:
        return self._nodes[tag]

    async def start(self) -> None:
        if self._server is not None:
            return
        server = Server(user_manager=_PasswordUsers(self.users) if self.users else None)
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("Floorgate plant simulator")
        await server.set_application_uri(APPLICATION_URI)
        if self.users:
            server.set_identity_tokens([ua.UserNameIdentityToken])
        else:
            server.set_identity_tokens([ua.AnonymousIdentityToken])
        if self.secure:
            await self._secure(server)
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.namespace_index = await server.register_namespace(NAMESPACE)
        await self._build(server)
        try:
            await server.start()
        except OSError as exc:
            raise OSError(f"opcua sim cannot listen on {self.host}:{self.port}: {exc}") from exc
        self._server = server
        self._published = {}
        await self.publish()
        log.info("opcua sim serving on %s", self.endpoint)

    async def _secure(self, server: Server) -> None:
        if self.certificate is not None and self.private_key is not None:
            cert = self.certificate.read_bytes()
            key = self.private_key.read_bytes()
        else:
            cert, key = generate_certificate(
                application_uri=APPLICATION_URI,
                common_name="Floorgate plant simulator",
                days=30,
                hostnames=[self.host, "localhost", socket.gethostname()],
            )
        cert_format = "pem" if cert.lstrip().startswith(b"-----BEGIN") else "der"
        key_format = "pem" if key.lstrip().startswith(b"-----BEGIN") else "der"
        await server.load_certificate(cert, format=cert_format)
        await server.load_private_key(key, format=key_format)
        self.server_certificate = (
            cert if cert_format == "der" else server.iserver.certificate.public_bytes(Encoding.DER)
        )
        server.set_security_policy(
            [
                ua.SecurityPolicyType.Basic256Sha256_Sign,
                ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            ]
        )
        validator = CertificateValidator(
            CertificateValidatorOptions.EXT_VALIDATION | CertificateValidatorOptions.PEER_CLIENT
        )
        server.set_certificate_validator(validator)

    async def _build(self, server: Server) -> None:
        idx = self.namespace_index
        objects = server.get_objects_node()
        folders: dict[str, Any] = {}
        for variable in VARIABLES:
            folder = folders.get(variable.folder)
            if folder is None:
                folder = folders[variable.folder] = await objects.add_object(idx, variable.folder)
            initial: Scalar = (
                _INITIAL_SETPOINT if variable.tag == SETPOINT else _zero(variable.type)
            )
            node_id = ua.NodeId(ua.String(variable.tag), ua.Int16(idx))
            node = await folder.add_variable(
                node_id,
                ua.QualifiedName(variable.browse_name, ua.Int16(idx)),
                initial,
                varianttype=variable.type,
            )
            if variable.writable:
                await node.set_writable()
            self._nodes[variable.tag] = node_id

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()
            log.info("opcua sim stopped")

    async def publish(self) -> None:
        """Copy the plant's values that changed since the last call into the variables."""
        server = self._server
        if server is None:
            return
        now = datetime.datetime.now(datetime.UTC)
        values = self.plant.values()
        for variable in VARIABLES:
            if variable.tag not in values:
                continue  # the setpoint belongs to the clients
            value = values[variable.tag]
            if self._published.get(variable.tag) == value and variable.tag not in self._forced:
                continue
            self._published[variable.tag] = value
            status = self._forced.get(variable.tag, _GOOD)
            data = _data_value(value, variable.type, status, now)
            await server.write_attribute_value(self._nodes[variable.tag], data)

    async def force_status(self, tag: str, status: str | None) -> None:
        """Serve ``tag`` with a status such as ``BadSensorFailure`` until called with ``None``.

        A bad status makes the server send a null value, as a gateway does for a failed input.
        """
        if tag not in self._nodes:
            raise KeyError(tag)
        if status is None:
            self._forced.pop(tag, None)
        else:
            self._forced[tag] = ua.StatusCode(ua.UInt32(getattr(StatusCodes, status)))
        self._published.pop(tag, None)
        await self.publish()

    async def write(self, tag: str, value: Scalar) -> None:
        """Set a variable server-side (the fast path), as the device behind the server would."""
        variable = next(v for v in VARIABLES if v.tag == tag)
        now = datetime.datetime.now(datetime.UTC)
        data = _data_value(value, variable.type, self._forced.get(tag, _GOOD), now)
        await self.server.write_attribute_value(self._nodes[tag], data)

    def read(self, tag: str) -> Scalar:
        """The current value of a variable (e.g. the setpoint a client wrote)."""
        variant = self.server.read_attribute_value(self._nodes[tag]).Value
        value: Scalar = variant.Value if variant is not None else None
        return value

    async def __aenter__(self) -> OpcUaPlantServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


_GOOD = ua.StatusCode()


def _data_value(
    value: Scalar, kind: ua.VariantType, status: ua.StatusCode, stamp: datetime.datetime
) -> ua.DataValue:
    return ua.DataValue(
        ua.Variant(value, kind),
        StatusCode=status,
        SourceTimestamp=stamp,  # type: ignore[arg-type]  # ua.DateTime is a marker class
        ServerTimestamp=stamp,  # type: ignore[arg-type]
    )


def _zero(kind: ua.VariantType) -> Scalar:
    return "" if kind is ua.VariantType.String else 0.0 if kind is ua.VariantType.Double else 0
