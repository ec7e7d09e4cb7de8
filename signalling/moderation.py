"""What a room admin may do to a live room: the operations behind the admin API.

Each takes effect on the live participant at once: a kick closes its connection
and refuses its token from then on, a mute stops its track being forwarded, and
a grant change stops what is no longer allowed (tracks, subscriptions, chat).
"""

from __future__ import annotations

from typing import Any

from .conference import Conference
from .protocol import ProtocolError
from .rooms import Peer, Room, RoomOptions


class Moderation:
    def __init__(self, conference: Conference) -> None:
        self.conference = conference

    # --- rooms ------------------------------------------------------------------

    def list_rooms(self) -> list[Room]:
        return list(self.conference.rooms.values())

    def room(self, room_id: str) -> Room:
        room = self.conference.rooms.get(room_id)
        if room is None:
            raise ProtocolError("unknown_room", f"there is no room {room_id}")
        return room

    def create_room(self, room_id: str, options: RoomOptions) -> Room:
        return self.conference.create_room(room_id, options)

    async def update_room(self, room_id: str, changes: dict[str, Any]) -> Room:
        """Change a room's options; turning the lobby off lets everyone waiting in."""
        room = self.room(room_id)
        room.options = RoomOptions(**{**room.options.to_json(), **changes})
        if not room.options.lobby:
            await self.conference.admit_all(room)
        if not room.peers and not room.lobby:
            self.conference.schedule_expiry(room)  # a new empty_timeout applies now
        return room

    async def delete_room(self, room_id: str) -> None:
        self.room(room_id)
        await self.conference.close_room(room_id, "room deleted by an admin")

    # --- participants -----------------------------------------------------------

    def participants(self, room_id: str) -> list[Peer]:
        return self.room(room_id).everyone()

    def participant(self, room_id: str, identity: str) -> Peer:
        self.room(room_id)
        peer = self.conference.peer_by_identity(room_id, identity)
        if peer is None:
            raise ProtocolError("unknown_participant", f"{identity} is not in room {room_id}")
        return peer

    async def kick(self, room_id: str, identity: str) -> None:
        """Remove a participant; the token it joined with is refused until it expires."""
        peer = self.participant(room_id, identity)
        on_disk = self.conference.access.revoke(peer.token)  # refused at once, stored meanwhile
        peer.send({"type": "error", "code": "kicked", "message": "a room admin removed you from the room"})
        await self.conference.leave(peer, "kicked")
        peer.disconnect("removed by an admin")
        await on_disk

    def mute_track(self, room_id: str, identity: str, track_id: str, muted: bool = True) -> None:
        peer = self.participant(room_id, identity)
        self.conference.set_muted(peer, track_id, muted, by_admin=True)

    async def update_grants(self, room_id: str, identity: str, changes: dict[str, Any]) -> Peer:
        """Change a live participant's grants; what they no longer allow stops now."""
        peer = self.participant(room_id, identity)
        conference = self.conference
        grants = peer.grants.updated(changes)
        if not grants.join:
            await self.kick(room_id, identity)
            return peer
        was_subscribing = peer.grants.subscribe
        peer.grants = grants
        room = self.room(room_id)
        on_disk = conference.access.change_grants(room_id, peer.token, grants)  # holds at once
        if peer.admitted:
            withdrawn = [
                t.info.track_id for t in peer.tracks.values() if not grants.may_publish(t.info.source)
            ]
            if withdrawn:
                stopped = await conference.media.stop_tracks(room_id, peer.participant_id, withdrawn)
                conference.tracks_stopped(peer, stopped)
            if grants.subscribe != was_subscribing:
                await conference.media.set_subscribes(room_id, peer.participant_id, grants.subscribe)
        peer.send({"type": "grants_changed", "grants": grants.to_claim()})
        if peer.admitted:
            conference.refresh_token(peer)  # a reconnect token with the new grants
            if grants.admin:
                conference.send_lobby(room, [peer])
        await on_disk
        return peer

    async def post_system_message(self, room_id: str, text: str) -> dict[str, Any]:
        room = self.room(room_id)
        stored = await self.conference.chat.post_system(room.room_id, text)
        return stored.to_json()
