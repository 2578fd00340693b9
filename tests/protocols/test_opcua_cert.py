"""``create_certificate``: the certificate fields OPC UA peers check (the secured sim accepting
it is in test_opcua_security)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from protocols.opcua import application_uri
from protocols.opcua_cert import create_certificate

URI = "urn:floorgate:agent:gw1"


def test_create_certificate_writes_an_opc_ua_application_certificate(tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "c.der", tmp_path / "k.pem"
    create_certificate(
        cert_path, key_path, application_uri=URI, common_name="gw1", days=10, hostnames=["gw1"]
    )
    cert = x509.load_der_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [URI]
    assert san.get_values_for_type(x509.DNSName) == ["gw1"]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert usage.key_encipherment and usage.data_encipherment
    extended = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(extended) == {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH}
    assert 9 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 10
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert key_path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        create_certificate(cert_path, key_path, application_uri=URI, common_name="gw1")


def test_a_pem_certificate_when_the_name_says_so(tmp_path: Path) -> None:
    cert_path = tmp_path / "agent.pem"
    create_certificate(cert_path, tmp_path / "agent.key", application_uri=URI, common_name="gw1")
    assert cert_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert application_uri(cert_path.read_bytes()) == URI
