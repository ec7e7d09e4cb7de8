"""The media plane's whole interface: the seam between signalling and the SFU.

Signalling calls these coroutines and receives :mod:`sfu.events` through the
sink it passes in. Nothing here knows about HTTP, WebSockets, tokens or chat
storage. In one process the calls are direct; a cluster carries the same calls
between processes.
"""

from __future__ import annotations

from .errors import UnknownParticipant
from .events import EventSink
from .participant import MediaParticipant
from .publisher import PublishResult
from .room import MediaRoom
from .tracks import COUNTERS, ForwardingCounters, TrackInfo


class MediaServer:
    def __init__(self, emit: EventSink) -> None:
        self._emit = emit
        self._rooms: dict[str, MediaRoom] = {}

    @property
    def counters(self) -> ForwardingCounters:
        return COUNTERS

    def room_ids(self) -> list[str]:
        return list(self._rooms)

    async def join(self, room_id: str, participant_id: str, subscribe: bool = True) -> None:
        """Add a participant; it is offered every track already published in the room."""
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = MediaRoom(room_id, self._emit)
        await room.join(participant_id, subscribe=subscribe)

    async def publish(
        self,
        room_id: str,
        participant_id: str,
        offer_sdp: str,
        sources: dict[str, str],
        allowed_sources: frozenset[str] | None = None,
    ) -> PublishResult:
        """Answer a publish offer; new tracks are forwarded to everyone else in the room.

        An offer sending a source outside ``allowed_sources`` raises ``PermissionDenied``.
        """
        self._participant(room_id, participant_id)
        return await self._rooms[room_id].publish(participant_id, offer_sdp, sources, allowed_sources)

    async def stop_tracks(self, room_id: str, participant_id: str, track_ids: list[str]) -> list[TrackInfo]:
        """Stop a participant's tracks without its offer (its grant was withdrawn)."""
        self._participant(room_id, participant_id)
        return await self._rooms[room_id].stop_tracks(participant_id, track_ids)

    def set_forwarding(self, room_id: str, participant_id: str, track_id: str, forwarding: bool) -> None:
        """Pause (mute) or resume forwarding one published track to everyone."""
        uptrack = self._participant(room_id, participant_id).uptracks.get(track_id)
        if uptrack is not None:
            uptrack.set_forwarding(forwarding)

    async def set_subscribes(self, room_id: str, participant_id: str, subscribes: bool) -> None:
        """Start or stop sending this participant every other track of the room."""
        self._participant(room_id, participant_id)
        await self._rooms[room_id].set_subscribes(participant_id, subscribes)

    async def answer_subscription(self, room_id: str, participant_id: str, answer_sdp: str) -> None:
        await self._participant(room_id, participant_id).accept_subscription_answer(answer_sdp)

    async def add_ice_candidate(
        self,
        room_id: str,
        participant_id: str,
        target: str,
        candidate: str,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> None:
        participant = self._participant(room_id, participant_id)
        await participant.add_ice_candidate(target, candidate, sdp_mid, sdp_mline_index)

    def send_data(self, room_id: str, participant_ids: list[str], payload: str) -> None:
        """Send a chat payload on each named participant's data channel."""
        room = self._rooms.get(room_id)
        if room is None:
            return
        for participant_id in participant_ids:
            participant = room.participants.get(participant_id)
            if participant is not None:
                participant.send_data(payload)

    async def leave(self, room_id: str, participant_id: str) -> list[TrackInfo]:
        """Remove a participant; returns the tracks it had published."""
        room = self._rooms.get(room_id)
        if room is None:
            return []
        removed = await room.leave(participant_id)
        if not room.participants and self._rooms.get(room_id) is room:
            del self._rooms[room_id]
        return removed

    async def close(self) -> None:
        for room in list(self._rooms.values()):
            await room.close()
        self._rooms.clear()

    def _participant(self, room_id: str, participant_id: str) -> MediaParticipant:
        room = self._rooms.get(room_id)
        participant = room.participants.get(participant_id) if room else None
        if participant is None:
            raise UnknownParticipant(f"{participant_id} is not in media room {room_id}")
        return participant
