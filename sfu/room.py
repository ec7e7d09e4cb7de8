"""A media room: who is in it, and which published track goes to whom.

Every participant subscribes to every track the others publish. Permissions
(who may publish or subscribe) are decided by signalling before it calls in.
"""

from __future__ import annotations

import asyncio

from .events import EventSink
from .forwarding import UpTrack
from .participant import MediaParticipant
from .publisher import PublishResult
from .tracks import TrackInfo


class MediaRoom:
    def __init__(self, room_id: str, emit: EventSink) -> None:
        self.room_id = room_id
        self.participants: dict[str, MediaParticipant] = {}
        self._emit = emit

    def uptracks(self, exclude: str | None = None) -> list[UpTrack]:
        return [
            uptrack
            for pid, participant in self.participants.items()
            if pid != exclude
            for uptrack in participant.uptracks.values()
        ]

    async def join(self, participant_id: str, subscribe: bool = True) -> MediaParticipant:
        participant = MediaParticipant(self.room_id, participant_id, self._emit, subscribes=subscribe)
        self.participants[participant_id] = participant
        await participant.subscribe(self.uptracks(exclude=participant_id))
        return participant

    async def publish(
        self,
        participant_id: str,
        offer_sdp: str,
        sources: dict[str, str],
        allowed_sources: frozenset[str] | None = None,
    ) -> PublishResult:
        participant = self.participants[participant_id]
        result = await participant.publish(offer_sdp, sources, allowed_sources)
        await self._tracks_removed(participant_id, result.removed)
        if result.added:
            added = [participant.uptracks[info.track_id] for info in result.added]
            await asyncio.gather(
                *(
                    other.subscribe(added)
                    for pid, other in list(self.participants.items())
                    if pid != participant_id
                )
            )
        return result

    async def stop_tracks(self, participant_id: str, track_ids: list[str]) -> list[TrackInfo]:
        participant = self.participants[participant_id]
        stopped = participant.publisher.stop_tracks(track_ids)
        await self._tracks_removed(participant_id, stopped)
        return stopped

    async def set_subscribes(self, participant_id: str, subscribes: bool) -> None:
        participant = self.participants[participant_id]
        if participant.subscribes == subscribes:
            return
        participant.subscribes = subscribes
        if subscribes:
            await participant.subscribe(self.uptracks(exclude=participant_id))
        else:
            await participant.unsubscribe(list(participant.subscriber.subscriptions))

    async def leave(self, participant_id: str) -> list[TrackInfo]:
        participant = self.participants.pop(participant_id, None)
        if participant is None:
            return []
        removed = [uptrack.info for uptrack in participant.uptracks.values()]
        await participant.close()
        await self._tracks_removed(participant_id, removed)
        return removed

    async def _tracks_removed(self, publisher_id: str, removed: list[TrackInfo]) -> None:
        if not removed:
            return
        track_ids = [info.track_id for info in removed]
        await asyncio.gather(
            *(
                other.unsubscribe(track_ids)
                for pid, other in list(self.participants.items())
                if pid != publisher_id
            )
        )

    async def close(self) -> None:
        for participant_id in list(self.participants):
            await self.leave(participant_id)
