"""Huddle's media plane: a forwarding SFU on aiortc. See :mod:`sfu.server` for its interface."""

from .errors import MediaError
from .events import (
    DataReceived,
    MediaConnectionLost,
    MediaEvent,
    SubscribedTrack,
    SubscriptionOffer,
)
from .forwarding import TrackInfo
from .publisher import PublishResult
from .server import MediaServer

__all__ = [
    "DataReceived",
    "MediaConnectionLost",
    "MediaError",
    "MediaEvent",
    "MediaServer",
    "PublishResult",
    "SubscribedTrack",
    "SubscriptionOffer",
    "TrackInfo",
]
