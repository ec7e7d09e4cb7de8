"""Huddle's media plane: a forwarding SFU on aiortc. See :mod:`sfu.server` for its interface."""

from .errors import MediaError, PermissionDenied
from .events import (
    DataReceived,
    MediaConnectionLost,
    MediaEvent,
    SubscribedTrack,
    SubscriptionOffer,
)
from .publisher import PublishResult
from .server import MediaServer
from .tracks import TrackInfo

__all__ = [
    "DataReceived",
    "MediaConnectionLost",
    "MediaError",
    "MediaEvent",
    "MediaServer",
    "PermissionDenied",
    "PublishResult",
    "SubscribedTrack",
    "SubscriptionOffer",
    "TrackInfo",
]
