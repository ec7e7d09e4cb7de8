"""Huddle's configuration: embedded defaults, overridden by the command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sfu.network import PortRange

from .tokens import ApiKeys
from .turn import TurnSettings


class ConfigError(Exception):
    """A configuration Huddle refuses to run with."""


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    # Addresses the SFU offers as ICE host candidates; empty means every interface
    # aioice finds (and, when bound to loopback only, 127.0.0.1).
    media_addresses: list[str] = field(default_factory=list)
    # UDP ports the SFU binds its media sockets in, "LOW-HIGH" (None: any port).
    media_ports: PortRange | None = None
    # Public address announced in the SFU's host candidates under 1:1 NAT (None: the bound one).
    media_public_address: str | None = None
    # STUN/TURN servers handed to clients on join (RTCIceServer dicts).
    ice_servers: list[dict] = field(default_factory=list)
    # TURN/STUN URLs and the shared secret: each participant gets fresh credentials.
    turn: TurnSettings = field(default_factory=TurnSettings)
    # How long an empty room lingers before it goes away, in seconds.
    empty_room_timeout: float = 30.0
    # How long a new WebSocket may take to send its join, in seconds.
    join_timeout: float = 10.0
    chat_history_on_join: int = 100
    max_participants_per_room: int = 100
    max_rooms: int = 1000
    # Failed token checks one client address may make in a burst; refilled over 15 s.
    auth_failures: int = 30
    # API key -> secret pairs that sign access tokens (several during a rotation).
    api_keys: ApiKeys = field(default_factory=ApiKeys)
    # Development only: the page may ask the server for a token (loopback, no keys).
    dev_tokens: bool = False
    # /metrics without a token (only for a scraper on a private network).
    public_metrics: bool = False
    # URLs that get room and participant events as signed POSTs (signalling/webhooks.py).
    webhook_urls: list[str] = field(default_factory=list)
    # HTTPS/WSS served by Huddle itself (both paths set), see signalling/tls.py.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # A TLS-terminating proxy is in front: no plain-HTTP warning, browsers' Origin is https.
    behind_proxy: bool = False
    # Browser origins besides Huddle's own that may open /ws and call the APIs.
    allowed_origins: list[str] = field(default_factory=list)
    # Host names requests must be addressed to (empty: any; a dev server: loopback names only).
    allowed_hosts: list[str] = field(default_factory=list)

    @property
    def on_loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")

    def open_dev_door(self) -> None:
        """With no keys on loopback, make a throwaway key so the page can get tokens.

        Bound to any other address, Huddle refuses to run without keys instead.
        """
        if self.api_keys:
            return
        if not self.on_loopback:
            raise ConfigError(
                f"listening on {self.host} needs API keys (HUDDLE_API_KEYS or --api-keys-file); "
                "`huddle keys` makes a pair"
            )
        key, secret = ApiKeys.generate()
        self.api_keys = ApiKeys({key: secret})
        self.dev_tokens = True

    def ice_servers_for(self, identity: str) -> list[dict]:
        """The RTCIceServer dictionaries for one participant's ``joined`` message."""
        servers = list(self.ice_servers)
        if self.turn.enabled:
            servers.append(self.turn.ice_server(identity))
        return servers

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def chat_db_path(self) -> Path:
        return self.data_dir / "chat.sqlite3"

    @property
    def access_db_path(self) -> Path:
        return self.data_dir / "access.sqlite3"

    def effective_media_addresses(self) -> list[str] | None:
        """The SFU's host candidate addresses, or None to let aioice discover them."""
        if self.media_addresses:
            return self.media_addresses
        if self.host in ("127.0.0.1", "localhost"):
            return ["127.0.0.1"]
        return None
