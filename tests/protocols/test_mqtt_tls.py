"""MQTT over TLS against a real mosquitto: server certificate checked against our CA, and a
client certificate when the broker requires one."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from protocols.base import ConnectError
from protocols.mqtt import Mqtt
from tests.protocols.mosquitto import Mosquitto, RawClient
from tests.protocols.test_mqtt_adapter import collect, config, has

PLAIN = {"topic": "line/speed", "payload": {"format": "plain", "tag": "line.speed"}}


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(
    folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca_key = _key()
    ca = _issue("floorgate test CA", ca_key, None, ca_key, ca=True)
    ca_path, _ = _write(tmp_path, "ca", ca, ca_key)
    files = {"ca": ca_path}
    for name in ("server", "agent"):
        key = _key()
        files[name], files[f"{name}.key"] = _write(
            tmp_path, name, _issue(name, key, ca, ca_key), key
        )
    other_key = _key()
    other = _issue("someone else's CA", other_key, None, other_key, ca=True)
    files["other_ca"], _ = _write(tmp_path, "other_ca", other, other_key)
    return files


@pytest.fixture
def tls_broker(tmp_path: Path, pki: dict[str, Path]) -> Iterator[Mosquitto]:
    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Mosquitto(
        folder, tls=(pki["ca"], pki["server"], pki["server.key"]), require_certificate=True
    )
    broker.start()
    yield broker
    broker.stop()


async def test_tls_with_client_certificate_delivers_messages(
    tls_broker: Mosquitto, pki: dict[str, Path]
) -> None:
    tls = {
        "ca_file": str(pki["ca"]),
        "cert_file": str(pki["agent"]),
        "key_file": str(pki["agent.key"]),
    }
    async with Mqtt(config(tls_broker.port, PLAIN, tls=tls)) as source:
        publisher = RawClient(tls_broker.port, client_id="plc", tls=tls)
        try:
            publisher.publish("line/speed", b"42.5")
            latest = await collect(source, has("line.speed"))
        finally:
            publisher.close()
    assert latest["line.speed"].value == 42.5


# paho leaves the socket of a failed TLS handshake to the garbage collector, which closes it
# (with a ResourceWarning); the adapter's part, refusing with ConnectError, is what is tested.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_broker_our_ca_did_not_sign_is_refused(
    tls_broker: Mosquitto, pki: dict[str, Path]
) -> None:
    tls = {
        "ca_file": str(pki["other_ca"]),
        "cert_file": str(pki["agent"]),
        "key_file": str(pki["agent.key"]),
    }
    with pytest.raises(ConnectError):
        async with Mqtt(config(tls_broker.port, PLAIN, tls=tls)):
            pass


async def test_without_a_client_certificate_the_broker_refuses(
    tls_broker: Mosquitto, pki: dict[str, Path]
) -> None:
    with pytest.raises(ConnectError):
        async with Mqtt(config(tls_broker.port, PLAIN, tls={"ca_file": str(pki["ca"])})):
            pass
