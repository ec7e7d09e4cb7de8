"""Huddle's configuration: embedded defaults, overridden by the command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sfu.network import PortRange

from .turn import TurnSettings


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

    def ice_servers_for(self, identity: str) -> list[dict]:
        """The RTCIceServer dictionaries for one participant's ``joined`` message."""
        servers = list(self.ice_servers)
        if self.turn.enabled:
            servers.append(self.turn.ice_server(identity))
        return servers

    @property
    def chat_db_path(self) -> Path:
        return self.data_dir / "chat.sqlite3"

    def effective_media_addresses(self) -> list[str] | None:
        """The SFU's host candidate addresses, or None to let aioice discover them."""
        if self.media_addresses:
            return self.media_addresses
        if self.host in ("127.0.0.1", "localhost"):
            return ["127.0.0.1"]
        return None
