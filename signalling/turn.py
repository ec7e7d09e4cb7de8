"""TURN: time-limited credentials handed out on join, and the coturn configuration.

Credentials follow the TURN REST API scheme that coturn checks with
``use-auth-secret``: the username is ``<expiry unix time>:<participant identity>``
and the credential is base64(HMAC-SHA1(secret, username)). Nothing is stored:
coturn recomputes the HMAC with the same shared secret and refuses the
username once its expiry time has passed.

The secret is never logged; :class:`TurnSettings` keeps it out of its repr.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TTL = 3600

# Relaying into these ranges is refused (a TURN server must not become a way into
# the private network); the SFU's own address is allowed explicitly.
PRIVATE_RANGES = [
    "0.0.0.0-0.255.255.255",
    "10.0.0.0-10.255.255.255",
    "100.64.0.0-100.127.255.255",
    "127.0.0.0-127.255.255.255",
    "169.254.0.0-169.254.255.255",
    "172.16.0.0-172.31.255.255",
    "192.0.0.0-192.0.0.255",
    "192.168.0.0-192.168.255.255",
    "198.18.0.0-198.19.255.255",
    "240.0.0.0-255.255.255.255",
    "::1",
    "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
]


def turn_username(identity: str, ttl: int, now: float | None = None) -> str:
    expiry = int(now if now is not None else time.time()) + int(ttl)
    return f"{expiry}:{identity}"


def turn_password(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def turn_credentials(secret: str, identity: str, ttl: int, now: float | None = None) -> tuple[str, str]:
    """``(username, credential)`` for ``identity``, valid for ``ttl`` seconds from ``now``."""
    username = turn_username(identity, ttl, now)
    return username, turn_password(secret, username)


@dataclass
class TurnSettings:
    """Huddle's TURN options; ``secret`` empty means no TURN credentials are issued."""

    secret: str = field(default="", repr=False)
    urls: list[str] = field(default_factory=list)
    ttl: int = DEFAULT_TTL

    @property
    def enabled(self) -> bool:
        return bool(self.secret and self.urls)

    def ice_server(self, identity: str, now: float | None = None) -> dict:
        """An RTCIceServer dictionary with fresh credentials for ``identity``."""
        username, credential = turn_credentials(self.secret, identity, self.ttl, now)
        return {"urls": list(self.urls), "username": username, "credential": credential}


@dataclass
class CoturnOptions:
    """What the rendered ``turnserver.conf`` needs beyond the secret."""

    realm: str = "huddle.local"
    listening_ips: list[str] = field(default_factory=list)  # empty: every interface
    relay_ips: list[str] = field(default_factory=list)
    external_ip: str | None = None
    port: int = 3478
    # TURN over TLS; 443 for networks that only let HTTPS out (coturn then needs
    # the capability to bind a privileged port).
    tls_port: int = 5349
    cert: Path | None = None
    pkey: Path | None = None
    min_port: int = 49160
    max_port: int = 49200
    # The SFU's media addresses: relaying to them is allowed despite denied-peer-ip.
    allowed_peer_ips: list[str] = field(default_factory=list)
    # Loopback peers (development and tests, where the SFU is on 127.0.0.1).
    allow_loopback: bool = False
    user_quota: int = 12
    total_quota: int = 1200
    log_file: Path | None = None
    # coturn's pid file and its (unused with use-auth-secret) SQLite user database;
    # default /var/run/turnserver.pid and /var/lib/turn/turndb.
    pid_file: Path | None = None
    userdb: Path | None = None


def render_coturn_config(secret: str, options: CoturnOptions) -> str:
    """The text of a coturn ``turnserver.conf`` (it contains the secret: write it 0600)."""
    o = options
    lines = [
        "# coturn for Huddle, rendered by `huddle turn`: time-limited credentials only",
        "# (TURN REST API scheme, checked with use-auth-secret).",
        f"realm={o.realm}",
        "use-auth-secret",
        f"static-auth-secret={secret}",
        f"listening-port={o.port}",
    ]
    if o.cert and o.pkey:
        lines += [f"tls-listening-port={o.tls_port}", f"cert={o.cert}", f"pkey={o.pkey}"]
    else:
        lines.append("no-tls")
        lines.append("no-dtls")
    lines += [f"listening-ip={ip}" for ip in o.listening_ips]
    lines += [f"relay-ip={ip}" for ip in o.relay_ips]
    if o.external_ip:
        lines.append(f"external-ip={o.external_ip}")
    lines += [
        f"min-port={o.min_port}",
        f"max-port={o.max_port}",
        "fingerprint",
        "no-multicast-peers",
        "no-cli",
        "no-tlsv1",
        "no-tlsv1_1",
        f"user-quota={o.user_quota}",
        f"total-quota={o.total_quota}",
    ]
    if o.allow_loopback:
        lines.append("allow-loopback-peers")
    denied = [r for r in PRIVATE_RANGES if not (o.allow_loopback and r.startswith("127."))]
    lines += [f"denied-peer-ip={r}" for r in denied]
    lines += [f"allowed-peer-ip={ip}" for ip in o.allowed_peer_ips]
    if o.pid_file:
        lines.append(f"pidfile={o.pid_file}")
    if o.userdb:
        lines.append(f"userdb={o.userdb}")
    if o.log_file:
        lines += [f"log-file={o.log_file}", "simple-log"]
    else:
        lines.append("log-file=stdout")
    return "\n".join(lines) + "\n"
