"""One participant's two peer connections, as LiveKit does it.

* The publisher connection (:mod:`sfu.publisher`) is offered by the client. It
  carries the tracks the participant sends, and the chat data channel.
* The subscriber connection (:mod:`sfu.subscriber`) is offered by the SFU
  whenever tracks come or go.

Because each side offers on its own connection only, offers never collide.
"""

from __future__ import annotations

import asyncio

from .events import DataReceived, EventSink, MediaConnectionLost, SubscribedTrack, SubscriptionOffer
from .forwarding import UpTrack
from .publisher import PublisherConnection, PublishResult
from .subscriber import SubscriberConnection


class MediaParticipant:
    """The media-plane state of one participant in one room."""

    def __init__(self, room_id: str, participant_id: str, emit: EventSink, subscribes: bool = True) -> None:
        self.room_id = room_id
        self.participant_id = participant_id
        self.subscribes = subscribes  # False: this participant is sent no media
        self._emit = emit
        self._lost = False
        self.publisher = PublisherConnection(participant_id, self._data_received, self._connection_failed)
        self.subscriber = SubscriberConnection(self._offer_ready, self._connection_failed)

    @property
    def uptracks(self) -> dict[str, UpTrack]:
        return self.publisher.uptracks

    async def publish(
        self, offer_sdp: str, sources: dict[str, str], allowed_sources: frozenset[str] | None
    ) -> PublishResult:
        return await self.publisher.publish(offer_sdp, sources, allowed_sources)

    async def subscribe(self, uptracks: list[UpTrack]) -> None:
        if self.subscribes:
            await self.subscriber.subscribe(uptracks)

    async def unsubscribe(self, track_ids: list[str]) -> None:
        await self.subscriber.unsubscribe(track_ids)

    async def accept_subscription_answer(self, answer_sdp: str) -> None:
        await self.subscriber.accept_answer(answer_sdp)

    async def add_ice_candidate(
        self, target: str, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        connection = self.publisher if target == "publisher" else self.subscriber
        await connection.add_ice_candidate(candidate, sdp_mid, sdp_mline_index)

    def send_data(self, payload: str) -> None:
        self.publisher.send_data(payload)

    async def close(self) -> None:
        self._lost = True  # a closing connection is not a lost one
        await asyncio.gather(self.publisher.close(), self.subscriber.close())

    async def _data_received(self, payload: str) -> None:
        await self._emit(DataReceived(self.room_id, self.participant_id, payload))

    async def _offer_ready(self, sdp: str, tracks: tuple[SubscribedTrack, ...]) -> None:
        await self._emit(SubscriptionOffer(self.room_id, self.participant_id, sdp, tracks))

    def _connection_failed(self) -> None:
        if not self._lost:
            self._lost = True
            asyncio.ensure_future(self._emit(MediaConnectionLost(self.room_id, self.participant_id)))
