"""HTTPS/WSS for Huddle itself: a server SSL context, and a self-signed certificate for LAN trials.

Browsers allow camera and microphone only on secure origins (HTTPS, or
http://localhost), so a server reached over a LAN needs TLS, either here or in a
reverse proxy in front of it.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .config import Config

SELF_SIGNED_DAYS = 365


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """TLS 1.2+ server context; raises ``OSError``/``ssl.SSLError`` for unreadable or mismatched files."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert, files.key)
    return context


def fingerprint(cert_path: Path) -> str:
    """SHA-256 of the certificate (DER), as browsers show it: ``AB:CD:...``."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def self_signed_names(host: str) -> list[str]:
    """The names a self-signed certificate covers: localhost, 127.0.0.1 and the listening address."""
    names = ["localhost", "127.0.0.1"]
    if host not in names and host not in ("0.0.0.0", "::", ""):
        names.append(host)
    return names


def ensure_self_signed(directory: Path, host: str) -> TlsFiles:
    """Make a self-signed certificate in ``directory`` once; reuse it while it covers ``host``.

    The key file is created with mode 0600 before anything is written to it.
    """
    files = TlsFiles(directory / "self-signed-cert.pem", directory / "self-signed-key.pem")
    names = self_signed_names(host)
    if files.cert.exists() and files.key.exists() and _covers(files.cert, names):
        return files
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    _write_private(
        files.key,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    files.cert.write_bytes(_certificate(key, names).public_bytes(serialization.Encoding.PEM))
    return files


def _certificate(key: ec.EllipticCurvePrivateKey, names: list[str]) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Huddle self-signed ({names[-1]})")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _covers(cert_path: Path, names: list[str]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    present = {str(v) for v in sans.get_values_for_type(x509.IPAddress)}
    present |= set(sans.get_values_for_type(x509.DNSName))
    fresh = cert.not_valid_after_utc > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    return fresh and all(n in present for n in names)


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def add_tls_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tls-cert", type=Path, default=None, metavar="PATH", help="serve HTTPS/WSS: PEM chain"
    )
    parser.add_argument("--tls-key", type=Path, default=None, metavar="PATH", help="its PEM private key")
    parser.add_argument(
        "--self-signed",
        action="store_true",
        help="serve HTTPS with a self-signed certificate made once in the data dir (LAN trials)",
    )
    parser.add_argument(
        "--behind-proxy", action="store_true", help="a TLS-terminating reverse proxy is in front of Huddle"
    )
    parser.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="another browser origin allowed to open /ws and call the APIs (repeatable), e.g. https://app.example.com",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name requests must be addressed to (repeatable), e.g. meet.example.com; "
        "refuses DNS-rebinding pages",
    )


def configure(config: Config, args: argparse.Namespace) -> tuple[ssl.SSLContext | None, list[str]]:
    """Apply the TLS options to ``config``; returns the SSL context (None: plain HTTP) and notices to print.

    Raises ``ValueError`` for options that do not fit together or files that do not load.
    """
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ValueError("--tls-cert and --tls-key go together")
    if args.self_signed and args.tls_cert:
        raise ValueError("--self-signed makes its own certificate; drop --tls-cert/--tls-key")
    config.behind_proxy = args.behind_proxy
    config.allowed_origins = list(args.allowed_origin)
    config.allowed_hosts = [name.strip().lower() for name in args.allowed_host]
    notices = []
    if args.self_signed:
        files = ensure_self_signed(config.data_dir / "tls", config.host)
        notices.append(f"Self-signed certificate {files.cert}, SHA-256 fingerprint {fingerprint(files.cert)}")
        config.tls_cert, config.tls_key = files.cert, files.key
    else:
        config.tls_cert, config.tls_key = args.tls_cert, args.tls_key
    if not config.tls:
        if not config.on_loopback and not config.behind_proxy:
            # Tokens, chat and SDP would cross the network in the clear, and browsers allow
            # camera and microphone only on HTTPS pages (or http://localhost) anyway.
            raise ValueError(
                f"refusing plain HTTP on {config.host}: use --tls-cert/--tls-key, --self-signed for a LAN "
                "trial, or put a TLS proxy in front and pass --behind-proxy"
            )
        return None, notices
    try:
        context = server_context(TlsFiles(config.tls_cert, config.tls_key))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load the TLS certificate/key: {exc}") from exc
    return context, notices
