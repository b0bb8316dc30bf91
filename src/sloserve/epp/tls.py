"""The picker's TLS certificate: the operator's, or a self-signed one made at start-up.

Gateways of the inference extension connect to their endpoint picker over TLS without checking
its certificate (the extension's own picker serves a self-signed one); a platform that wants the
connection verified mounts a certificate its gateway trusts.
"""

from __future__ import annotations

import datetime
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class Credentials:
    """A PEM certificate chain and its private key."""

    cert: bytes
    key: bytes


def load(cert_file: Path, key_file: Path) -> Credentials:
    """Read the files; raises ValueError naming the one that cannot be read."""
    try:
        cert = cert_file.read_bytes()
    except OSError as error:
        raise ValueError(f"TLS certificate {cert_file}: cannot read it: {error}") from error
    try:
        key = key_file.read_bytes()
    except OSError as error:
        raise ValueError(f"TLS key {key_file}: cannot read it: {error}") from error
    return Credentials(cert=cert, key=key)


def self_signed(common_name: str | None = None) -> Credentials:
    """A fresh ECDSA P-256 key and a certificate for it, valid for a year from a few minutes
    ago, naming the host (and `localhost`)."""
    name = common_name or socket.gethostname() or "sloserve-epp"
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name), x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return Credentials(
        cert=certificate.public_bytes(serialization.Encoding.PEM),
        key=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
