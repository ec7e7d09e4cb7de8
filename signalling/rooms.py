"""Rooms, their options, and the participants in them, as signalling sees them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sfu import TrackInfo

from .tokens import AccessToken, Grants

Send = Callable[[dict[str, Any]], None]


@dataclass
class RoomOptions:
    """Per-room settings; ``None`` means the server's default."""

    max_participants: int | None = None
    locked: bool = False  # only room admins may join
    lobby: bool = False  # joiners wait until a room admin admits them
    empty_timeout: float | None = None  # seconds an empty room lingers
    e2ee_required: bool = False  # browsers must encrypt media end to end

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PublishedTrack:
    info: TrackInfo
    muted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "track_id": self.info.track_id,
            "kind": self.info.kind,
            "source": self.info.source,
            "codec": self.info.codec,
            "muted": self.muted,
        }


@dataclass
class Peer:
    """A participant: one WebSocket session in one room (or in its lobby)."""

    participant_id: str
    token: AccessToken
    name: str
    room_id: str
    send: Send
    disconnect: Callable[[str], None]
    grants: Grants
    admitted: bool = False  # False while waiting in the lobby
    joined_at: float = field(default_factory=time.time)
    tracks: dict[str, PublishedTrack] = field(default_factory=dict)
    refresh: asyncio.TimerHandle | None = None  # the next reconnect token

    @property
    def identity(self) -> str:
        return self.token.identity

    @property
    def is_admin(self) -> bool:
        return self.grants.admin

    def who(self) -> dict[str, Any]:
        """Who this is, without tracks (lobby lists, track events)."""
        return {"participant_id": self.participant_id, "identity": self.identity, "name": self.name}

    def to_json(self) -> dict[str, Any]:
        return {**self.who(), "tracks": [t.to_json() for t in self.tracks.values()]}

    def to_admin_json(self) -> dict[str, Any]:
        """What the admin API shows: the public view plus grants and state."""
        return {
            **self.to_json(),
            "grants": self.grants.to_claim(),
            "state": "active" if self.admitted else "waiting",
            "joined_at": self.joined_at,
        }


@dataclass
class Room:
    room_id: str
    options: RoomOptions = field(default_factory=RoomOptions)
    peers: dict[str, Peer] = field(default_factory=dict)  # admitted participants
    lobby: dict[str, Peer] = field(default_factory=dict)  # waiting to be admitted
    # Identities let in from the lobby: a reconnect (dropped network, new tab) skips it
    # until the person leaves on purpose or is removed.
    admitted: set[str] = field(default_factory=set)
    ever_joined: bool = False
    created_at: float = field(default_factory=time.time)
    expiry: asyncio.TimerHandle | None = None

    def everyone(self) -> list[Peer]:
        """Admitted participants, then those waiting in the lobby."""
        return [*self.peers.values(), *self.lobby.values()]

    def visible_peers(self) -> list[Peer]:
        return [p for p in self.peers.values() if not p.grants.hidden]

    def admins(self) -> list[Peer]:
        return [p for p in self.peers.values() if p.is_admin]

    def to_json(self) -> dict[str, Any]:
        return {
            "room": self.room_id,
            "options": self.options.to_json(),
            "participants": len(self.peers),
            "waiting": len(self.lobby),
            "created_at": self.created_at,
        }
