"""What the media plane tells signalling. Each event names the room and participant."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SubscribedTrack:
    """A track carried on a subscriber's connection, under the m-line ``mid``."""

    mid: str
    track_id: str
    participant_id: str
    kind: str
    source: str


@dataclass(frozen=True)
class SubscriptionOffer:
    """The SFU re-offers a subscriber's connection because tracks came or went."""

    room_id: str
    participant_id: str
    sdp: str
    tracks: tuple[SubscribedTrack, ...]


@dataclass(frozen=True)
class DataReceived:
    """A message arrived on a participant's chat data channel."""

    room_id: str
    participant_id: str
    payload: str


@dataclass(frozen=True)
class MediaConnectionLost:
    """A participant's media connection failed or closed on its own."""

    room_id: str
    participant_id: str


MediaEvent = SubscriptionOffer | DataReceived | MediaConnectionLost
EventSink = Callable[[MediaEvent], Awaitable[None]]
