"""The conference: every room of this server, and the one caller of the media plane.

A :class:`Conference` turns validated client requests into calls on
:class:`sfu.MediaServer` and media events into messages for the clients. It is
where access tokens are checked and grants enforced: a join needs a token for
that room, publishing, subscribing and chat each need their grant, and a room
with a lobby admits nobody until a room admin says so. Rooms appear on the first
join (or by the admin API) and go away once empty for their empty timeout.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

from sfu import (
    DataReceived,
    MediaConnectionLost,
    MediaEvent,
    MediaServer,
    PermissionDenied,
    SubscriptionOffer,
)

from .access import AccessControl
from .access_store import AccessStore
from .chat import ChatService
from .chat_store import ChatStore
from .config import Config
from .protocol import PROTOCOL_VERSION, ProtocolError
from .rooms import Peer, PublishedTrack, Room, RoomOptions, Send

logger = logging.getLogger(__name__)

RECONNECT_TOKEN_REFRESH = 300.0  # seconds between reconnect tokens sent to a participant
FIRST_JOIN_WAIT = 300.0  # seconds a room created ahead of time waits for its first joiner

# What the webhooks and other observers hear: (event name, details).
Observer = Callable[[str, dict[str, Any]], None]


class Conference:
    def __init__(self, config: Config, chat_store: ChatStore, access_store: AccessStore) -> None:
        self.config = config
        self.rooms: dict[str, Room] = {}
        self.media = MediaServer(self._on_media_event)
        self.observers: list[Observer] = []
        self._peers: dict[str, Peer] = {}
        self.access = AccessControl(config, access_store)
        self._chat_store = chat_store
        self.chat = ChatService(chat_store, self.media, self._room_participant_ids, self._room_requires_e2ee)

    # --- rooms ------------------------------------------------------------------

    def create_room(self, room_id: str, options: RoomOptions | None = None) -> Room:
        """A new, empty room (it expires if nobody joins in time)."""
        if room_id in self.rooms:
            raise ProtocolError("room_exists", f"room {room_id} already exists")
        if len(self.rooms) >= self.config.max_rooms:
            raise ProtocolError("too_many_rooms", f"this server holds at most {self.config.max_rooms} rooms")
        room = self.rooms[room_id] = Room(room_id, options or RoomOptions())
        self._notify("room_started", {"room": room_id})
        self.schedule_expiry(room)
        return room

    async def close_room(self, room_id: str, reason: str) -> None:
        room = self.rooms.get(room_id)
        if room is None:
            return
        everyone = [*room.lobby.values(), *room.peers.values()]
        for peer in everyone:  # told and cut off first: nobody hears the others leave
            peer.send({"type": "room_closed", "reason": reason})
            peer.disconnect(reason)
        for peer in everyone:
            await self.leave(peer, reason)
        self._remove_room(room)

    # --- requests from sessions -------------------------------------------------

    async def join(
        self, room_id: str, token: str, name: str | None, send: Send, disconnect: Callable[[str], None]
    ) -> Peer:
        """Admit a participant to a room, or to its lobby (``peer.admitted`` tells which)."""
        room = self.rooms.get(room_id)
        access, grants = self.access.admit(token, room_id)
        room = room or self.create_room(room_id)
        for previous in [p for p in room.everyone() if p.identity == access.identity]:
            # The same person reconnecting (a new tab, a dropped network): the new
            # connection replaces the old one, which may not know yet that it is dead.
            previous.disconnect("replaced by a new connection")
            await self.leave(previous, "replaced")
        if room.options.locked and not grants.admin:
            raise ProtocolError("room_locked", f"room {room_id} is locked")
        limit = room.options.max_participants or self.config.max_participants_per_room
        if len(room.peers) + len(room.lobby) >= limit:
            raise ProtocolError("room_full", f"room {room_id} is full ({limit} participants)")
        if room.expiry is not None:
            room.expiry.cancel()
            room.expiry = None
        peer = Peer(
            participant_id="PA_" + secrets.token_hex(6),
            token=access,
            name=access.name or name or access.identity,
            room_id=room_id,
            send=send,
            disconnect=disconnect,
            grants=grants,
        )
        self._peers[peer.participant_id] = peer
        if room.options.lobby and not grants.admin and access.identity not in room.admitted:
            room.lobby[peer.participant_id] = peer
            send({"type": "lobby_waiting", "room": room_id, "participant_id": peer.participant_id})
            self._lobby_changed(room)
            return peer
        await self._admit(room, peer)
        return peer

    async def _admit(self, room: Room, peer: Peer) -> None:
        room.lobby.pop(peer.participant_id, None)
        room.admitted.add(peer.identity)
        room.ever_joined = True
        peer.admitted = True
        history = await self._chat_store.recent(room.room_id, self.config.chat_history_on_join)
        others = [p.to_json() for p in room.visible_peers()]
        room.peers[peer.participant_id] = peer
        # "joined" goes out before any subscription offer the media join may cause.
        joined = {
            "type": "joined",
            "version": PROTOCOL_VERSION,
            "room": room.room_id,
            "participant_id": peer.participant_id,
            "identity": peer.identity,
            "name": peer.name,
            "grants": peer.grants.to_claim(),
            "room_options": {"e2ee_required": room.options.e2ee_required, "lobby": room.options.lobby},
            "participants": others,
            "ice_servers": self.config.ice_servers_for(peer.identity),
            "chat_history": [m.to_json() for m in history],
        }
        if peer.is_admin:
            joined["lobby"] = [p.who() for p in room.lobby.values()]
        peer.send(joined)
        self.refresh_token(peer)
        if not peer.grants.hidden:
            self._broadcast(room, {"type": "participant_joined", "participant": peer.to_json()}, peer)
        await self.media.join(room.room_id, peer.participant_id, subscribe=peer.grants.subscribe)
        self._notify("participant_joined", {"room": room.room_id, "participant": peer.to_json()})

    async def admit(self, admin: Peer, participant_id: str) -> None:
        room, waiting = self._lobby_entry(admin, participant_id)
        await self._admit(room, waiting)
        self._lobby_changed(room)

    async def reject(self, admin: Peer, participant_id: str) -> None:
        room, waiting = self._lobby_entry(admin, participant_id)
        waiting.send(
            {"type": "error", "code": "lobby_rejected", "message": "a room admin declined your request"}
        )
        await self.leave(waiting, "rejected")
        waiting.disconnect("rejected")

    async def admit_all(self, room: Room) -> None:
        """Let everyone waiting in (the lobby was turned off)."""
        for waiting in list(room.lobby.values()):
            await self._admit(room, waiting)
        self._lobby_changed(room)

    def _lobby_entry(self, admin: Peer, participant_id: str) -> tuple[Room, Peer]:
        if not admin.is_admin:
            raise ProtocolError("permission_denied", "only a room admin may admit or reject")
        room = self.rooms[admin.room_id]
        waiting = room.lobby.get(participant_id)
        if waiting is None:
            raise ProtocolError("unknown_participant", f"nobody is waiting as {participant_id}")
        return room, waiting

    async def publish(self, peer: Peer, sdp: str, declared: list[dict[str, Any]], e2ee: bool) -> None:
        room = self.rooms[peer.room_id]
        sources = {t["mid"]: t["source"] for t in declared}
        muted = {t["mid"]: t.get("muted", False) for t in declared}
        allowed = set(peer.grants.publish)
        if "screen" in allowed:
            allowed.add("screen_audio")
        # The server cannot look inside frames: in an E2EE room it takes the client's
        # word that they are encrypted, and refuses any media offered without it.
        plain_refused = room.options.e2ee_required and not e2ee
        if plain_refused:
            allowed.clear()
        try:
            result = await self.media.publish(
                peer.room_id, peer.participant_id, sdp, sources, frozenset(allowed)
            )
        except PermissionDenied:
            if plain_refused:
                raise ProtocolError(
                    "e2ee_required", "this room requires end-to-end encrypted media (publish with e2ee)"
                ) from None
            raise
        self.tracks_stopped(peer, result.removed)
        for info in result.added:
            track = PublishedTrack(info, muted=muted.get(info.mid, False))
            peer.tracks[info.track_id] = track
            if track.muted:
                self.media.set_forwarding(peer.room_id, peer.participant_id, info.track_id, False)
            self._broadcast(
                room,
                {"type": "track_published", "participant_id": peer.participant_id, "track": track.to_json()},
                peer,
            )
            self._notify_track("track_published", peer, track)
        peer.send(
            {
                "type": "publish_answer",
                "sdp": result.sdp,
                "tracks": [{"mid": t.info.mid, "track_id": t.info.track_id} for t in peer.tracks.values()],
            }
        )

    def tracks_stopped(self, peer: Peer, stopped: list[Any]) -> None:
        room = self.rooms[peer.room_id]
        for info in stopped:
            track = peer.tracks.pop(info.track_id, None)
            if track is not None:
                self._notify_track("track_unpublished", peer, track, reason="unpublished")
            self._broadcast(
                room,
                {
                    "type": "track_unpublished",
                    "participant_id": peer.participant_id,
                    "track_id": info.track_id,
                },
                peer,
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

    def set_muted(self, peer: Peer, track_id: str, muted: bool, by_admin: bool = False) -> None:
        """Mark a track muted or not; a muted track is not forwarded at all."""
        track = peer.tracks.get(track_id)
        if track is None:
            raise ProtocolError("unknown_track", f"{peer.participant_id} has no track {track_id}")
        track.muted = muted
        self.media.set_forwarding(peer.room_id, peer.participant_id, track_id, not muted)
        message = {
            "type": "track_muted",
            "participant_id": peer.participant_id,
            "track_id": track_id,
            "muted": muted,
        }
        if by_admin:
            message["by_admin"] = True
        self._broadcast(self.rooms[peer.room_id], message, None if by_admin else peer)

    async def leave(self, peer: Peer, reason: str) -> None:
        if self._peers.pop(peer.participant_id, None) is None:
            return
        if peer.refresh is not None:
            peer.refresh.cancel()
        room = self.rooms.get(peer.room_id)
        if room is None:
            return
        if room.lobby.pop(peer.participant_id, None) is not None:
            self._lobby_changed(room)
        elif room.peers.pop(peer.participant_id, None) is not None:
            if reason in ("left", "kicked"):
                room.admitted.discard(peer.identity)
            if not peer.grants.hidden:
                self._broadcast(
                    room,
                    {"type": "participant_left", "participant_id": peer.participant_id, "reason": reason},
                    peer,
                )
            await self.media.leave(peer.room_id, peer.participant_id)
            for track in peer.tracks.values():
                self._notify_track("track_unpublished", peer, track, reason=reason)
            self._notify(
                "participant_left", {"room": room.room_id, "participant": peer.to_json(), "reason": reason}
            )
        if not room.peers and not room.lobby and self.rooms.get(room.room_id) is room:
            self.schedule_expiry(room)

    def refresh_token(self, peer: Peer) -> None:
        """Send ``peer`` a reconnect token now and every few minutes while it stays."""
        if peer.refresh is not None:
            peer.refresh.cancel()
            peer.refresh = None
        if self._peers.get(peer.participant_id) is not peer:
            return
        fresh = self.access.reconnect_token(peer.room_id, peer.token, peer.grants, peer.name)
        if fresh is None:
            return  # its key was retired meanwhile: it must come back with a new token
        token, ttl = fresh
        peer.send({"type": "token_refresh", "token": token, "expires_in": ttl})
        peer.refresh = asyncio.get_running_loop().call_later(
            RECONNECT_TOKEN_REFRESH, self.refresh_token, peer
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

    def peer_by_identity(self, room_id: str, identity: str) -> Peer | None:
        room = self.rooms.get(room_id)
        if room is None:
            return None
        return next((p for p in room.everyone() if p.identity == identity), None)

    def _broadcast(self, room: Room, message: dict[str, Any], exclude: Peer | None) -> None:
        for peer in list(room.peers.values()):
            if peer is not exclude:
                peer.send(message)

    def _lobby_changed(self, room: Room) -> None:
        self.send_lobby(room, room.admins())

    def send_lobby(self, room: Room, admins: list[Peer]) -> None:
        """Tell these admins who is waiting in the room's lobby."""
        waiting = [p.who() for p in room.lobby.values()]
        for admin in admins:
            admin.send({"type": "lobby_update", "waiting": waiting})

    def _notify_track(self, event: str, peer: Peer, track: PublishedTrack, **details: Any) -> None:
        self._notify(
            event, {"room": peer.room_id, "participant": peer.who(), "track": track.to_json(), **details}
        )

    def _notify(self, event: str, details: dict[str, Any]) -> None:
        for observer in self.observers:
            try:
                observer(event, details)
            except Exception:
                logger.exception("an observer of %s failed", event)

    def _room_participant_ids(self, room_id: str) -> list[str]:
        room = self.rooms.get(room_id)
        return list(room.peers) if room else []

    def _room_requires_e2ee(self, room_id: str) -> bool:
        room = self.rooms.get(room_id)
        return room is not None and room.options.e2ee_required

    def schedule_expiry(self, room: Room) -> None:
        if room.expiry is not None:
            room.expiry.cancel()
        timeout = room.options.empty_timeout
        if timeout is None:
            # A room made ahead of time (admin API) waits longer for its first joiner.
            timeout = self.config.empty_room_timeout if room.ever_joined else FIRST_JOIN_WAIT
        room.expiry = asyncio.get_running_loop().call_later(timeout, self._expire_room, room.room_id)

    def _expire_room(self, room_id: str) -> None:
        room = self.rooms.get(room_id)
        if room is not None and not room.peers and not room.lobby:
            self._remove_room(room)
            logger.info("room %s closed after being empty", room_id)

    def _remove_room(self, room: Room) -> None:
        if room.expiry is not None:
            room.expiry.cancel()
        if self.rooms.get(room.room_id) is room:
            del self.rooms[room.room_id]
            self._notify("room_finished", {"room": room.room_id})
