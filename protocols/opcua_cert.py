"""Self-signed OPC UA application instance certificates (``floorgate cert create``).

OPC UA (Part 6, 6.2.2) wants the application URI as a URI SubjectAltName (the peer checks it
against the ApplicationDescription), the key usages digitalSignature, nonRepudiation,
keyEncipherment and dataEncipherment (plus keyCertSign, as the certificate signs itself), and
both client and server authentication as extended key usage, so one certificate serves either
role. RSA 2048 with SHA-256 suits the Basic256Sha256 policy.
"""

from __future__ import annotations

import datetime
import os
import socket
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_SIZE = 2048


def generate_certificate(
    *,
    application_uri: str,
    common_name: str,
    days: int = 365,
    hostnames: Sequence[str] | None = None,
) -> tuple[bytes, bytes]:
    """A new key and a self-signed certificate for it.

    Args:
        application_uri: The application's URI, e.g. ``urn:floorgate:agent:gw1``; the client
            must announce the same URI when it connects.
        common_name: The subject's CN, shown to the operator who trusts the certificate.
        days: Validity from now.
        hostnames: DNS names for the SubjectAltName; defaults to this machine's host name.

    Returns:
        ``(certificate DER, private key PEM PKCS#8 unencrypted)``.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    if not application_uri:
        raise ValueError("application_uri is required")
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(application_uri)]
    names += [x509.DNSName(host) for host in (hostnames or [socket.gethostname()])]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate small clock skew
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.DER), key_pem


def create_certificate(
    cert_path: Path,
    key_path: Path,
    *,
    application_uri: str,
    common_name: str,
    days: int = 365,
    hostnames: Sequence[str] | None = None,
    overwrite: bool = False,
) -> None:
    """Write a new self-signed client certificate and its private key.

    The certificate is DER (the OPC UA convention) unless ``cert_path`` ends in ``.pem``; the key
    is PEM, created with mode 0600. Hand the certificate to the server's administrator to trust.

    Args:
        cert_path: Where the certificate goes (``.der`` or ``.pem``).
        key_path: Where the private key goes.
        application_uri: Written as the URI SubjectAltName; the adapter announces it.
        common_name: The subject's CN.
        days: Validity from now.
        hostnames: DNS SubjectAltNames; defaults to this machine's host name.
        overwrite: Replace existing files; otherwise an existing file raises ``FileExistsError``.
    """
    for path in (cert_path, key_path):
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists (pass overwrite to replace it)")
    cert_der, key_pem = generate_certificate(
        application_uri=application_uri, common_name=common_name, days=days, hostnames=hostnames
    )
    if cert_path.suffix.lower() == ".pem":
        cert_bytes = x509.load_der_x509_certificate(cert_der).public_bytes(
            serialization.Encoding.PEM
        )
    else:
        cert_bytes = cert_der
    key_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(key_path, flags, 0o600)
    with os.fdopen(fd, "wb") as key_file:
        key_file.write(key_pem)
    cert_path.write_bytes(cert_bytes)
