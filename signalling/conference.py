"""Rooms and participants as signalling sees them, and the one caller of the media plane.

A :class:`Conference` owns every room of this server. It turns validated client
requests into calls on :class:`sfu.MediaServer` and media events into messages
for the clients. Rooms appear on the first join and go away once they have been
empty for ``Config.empty_room_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sfu import (
    DataReceived,
    MediaConnectionLost,
    MediaEvent,
    MediaServer,
    SubscriptionOffer,
    TrackInfo,
)

from .chat import ChatService
from .chat_store import ChatStore
from .config import Config
from .protocol import PROTOCOL_VERSION, ProtocolError

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], None]


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
    """A participant: one WebSocket session in one room."""

    participant_id: str
    identity: str
    name: str
    room_id: str
    send: Send
    disconnect: Callable[[str], None]
    tracks: dict[str, PublishedTrack] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "participant_id": self.participant_id,
            "identity": self.identity,
            "name": self.name,
            "tracks": [t.to_json() for t in self.tracks.values()],
        }


@dataclass
class Room:
    room_id: str
    peers: dict[str, Peer] = field(default_factory=dict)
    expiry: asyncio.TimerHandle | None = None


class Conference:
    def __init__(self, config: Config, chat_store: ChatStore) -> None:
        self.config = config
        self.rooms: dict[str, Room] = {}
        self.media = MediaServer(self._on_media_event)
        self._peers: dict[str, Peer] = {}
        self._chat_store = chat_store
        self.chat = ChatService(chat_store, self.media, self._room_participant_ids)

    # --- requests from sessions -------------------------------------------------

    async def join(
        self, room_id: str, name: str, identity: str | None, send: Send, disconnect: Callable
    ) -> Peer:
        room = self.rooms.get(room_id)
        if room is not None and identity is not None:
            # The same person reconnecting (a new tab, a dropped network): the new
            # connection replaces the old one, which may not know yet that it is dead.
            for previous in [p for p in room.peers.values() if p.identity == identity]:
                previous.disconnect("replaced by a new connection")
                await self.leave(previous, "replaced")
        if room is not None and len(room.peers) >= self.config.max_participants_per_room:
            raise ProtocolError(
                "room_full", f"room {room_id} is full ({self.config.max_participants_per_room} participants)"
            )
        if room is None:
            room = self.rooms[room_id] = Room(room_id)
        if room.expiry is not None:
            room.expiry.cancel()
            room.expiry = None
        peer = Peer(
            participant_id="PA_" + secrets.token_hex(6),
            identity=identity or "ID_" + secrets.token_hex(6),
            name=name,
            room_id=room_id,
            send=send,
            disconnect=disconnect,
        )
        history = await self._chat_store.recent(room_id, self.config.chat_history_on_join)
        others = [p.to_json() for p in room.peers.values()]
        room.peers[peer.participant_id] = peer
        self._peers[peer.participant_id] = peer
        # "joined" goes out before any subscription offer the media join may cause.
        send(
            {
                "type": "joined",
                "version": PROTOCOL_VERSION,
                "room": room_id,
                "participant_id": peer.participant_id,
                "identity": peer.identity,
                "participants": others,
                "ice_servers": self.config.ice_servers_for(peer.identity),
                "chat_history": [m.to_json() for m in history],
            }
        )
        self._broadcast(room, {"type": "participant_joined", "participant": peer.to_json()}, peer)
        await self.media.join(room_id, peer.participant_id)
        return peer

    async def publish(self, peer: Peer, sdp: str, declared: list[dict[str, Any]]) -> None:
        sources = {t["mid"]: t["source"] for t in declared}
        muted = {t["mid"]: t.get("muted", False) for t in declared}
        result = await self.media.publish(peer.room_id, peer.participant_id, sdp, sources)
        room = self.rooms[peer.room_id]
        for info in result.removed:
            peer.tracks.pop(info.track_id, None)
            self._broadcast(
                room,
                {
                    "type": "track_unpublished",
                    "participant_id": peer.participant_id,
                    "track_id": info.track_id,
                },
                peer,
            )
        for info in result.added:
            track = PublishedTrack(info, muted=muted.get(info.mid, False))
            peer.tracks[info.track_id] = track
            self._broadcast(
                room,
                {
                    "type": "track_published",
                    "participant_id": peer.participant_id,
                    "track": track.to_json(),
                },
                peer,
            )
        peer.send(
            {
                "type": "publish_answer",
                "sdp": result.sdp,
                "tracks": [{"mid": t.info.mid, "track_id": t.info.track_id} for t in peer.tracks.values()],
            }
        )

    async def answer_subscription(self, peer: Peer, sdp: str) -> None:
        await self.media.answer_subscription(peer.room_id, peer.participant_id, sdp)

    async def add_ice_candidate(self, peer: Peer, message: dict[str, Any]) -> None:
        if not message["candidate"]:
            return  # end of candidates: nothing to do for aiortc
        await self.media.add_ice_candidate(
            peer.room_id,
            peer.participant_id,
            message["target"],
            message["candidate"],
            message.get("sdp_mid"),
            message.get("sdp_mline_index"),
        )

    def set_muted(self, peer: Peer, track_id: str, muted: bool) -> None:
        track = peer.tracks.get(track_id)
        if track is None:
            raise ProtocolError("unknown_track", f"you have no track {track_id}")
        track.muted = muted
        self._broadcast(
            self.rooms[peer.room_id],
            {
                "type": "track_muted",
                "participant_id": peer.participant_id,
                "track_id": track_id,
                "muted": muted,
            },
            peer,
        )

    async def leave(self, peer: Peer, reason: str) -> None:
        if self._peers.pop(peer.participant_id, None) is None:
            return
        room = self.rooms.get(peer.room_id)
        if room is not None:
            room.peers.pop(peer.participant_id, None)
            self._broadcast(
                room,
                {
                    "type": "participant_left",
                    "participant_id": peer.participant_id,
                    "reason": reason,
                },
                peer,
            )
        await self.media.leave(peer.room_id, peer.participant_id)
        if room is not None and not room.peers:
            room.expiry = asyncio.get_running_loop().call_later(
                self.config.empty_room_timeout, self._expire_room, room.room_id
            )

    def disconnect_all(self, reason: str) -> None:
        """Close every session's WebSocket; each then leaves its room as it ends."""
        for peer in list(self._peers.values()):
            peer.disconnect(reason)

    async def close(self) -> None:
        self.disconnect_all("server shutting down")
        for peer in list(self._peers.values()):
            await self.leave(peer, "server_shutdown")
        await self.media.close()
        for room in self.rooms.values():
            if room.expiry is not None:
                room.expiry.cancel()
        self.rooms.clear()

    # --- events from the media plane --------------------------------------------

    async def _on_media_event(self, event: MediaEvent) -> None:
        peer = self._peers.get(event.participant_id)
        if peer is None:
            return
        if isinstance(event, SubscriptionOffer):
            peer.send(
                {
                    "type": "subscribe_offer",
                    "sdp": event.sdp,
                    "tracks": [
                        {
                            "mid": t.mid,
                            "track_id": t.track_id,
                            "participant_id": t.participant_id,
                            "kind": t.kind,
                            "source": t.source,
                        }
                        for t in event.tracks
                    ],
                }
            )
        elif isinstance(event, DataReceived):
            await self.chat.receive(peer, event.payload)
        elif isinstance(event, MediaConnectionLost):
            logger.info("media connection of %s failed", peer.participant_id)
            peer.disconnect("media connection failed")

    # --- helpers ------------------------------------------------------------------

    def _broadcast(self, room: Room, message: dict[str, Any], exclude: Peer | None) -> None:
        for peer in list(room.peers.values()):
            if peer is not exclude:
                peer.send(message)

    def _room_participant_ids(self, room_id: str) -> list[str]:
        room = self.rooms.get(room_id)
        return list(room.peers) if room else []

    def _expire_room(self, room_id: str) -> None:
        room = self.rooms.get(room_id)
        if room is not None and not room.peers:
            del self.rooms[room_id]
            logger.info("room %s closed after being empty", room_id)
