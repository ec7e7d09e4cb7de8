"""What the media plane shares about tracks: their description, the clock, the counters."""

from __future__ import annotations

import time
from dataclasses import dataclass

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900 (NTP) to 1970 (Unix)
NTP_SECOND = 1 << 32


def ntp_now() -> int:
    """The current wall-clock time as a 64-bit NTP timestamp."""
    return int((time.time() + NTP_EPOCH_OFFSET) * NTP_SECOND)


@dataclass
class TrackInfo:
    """What the rest of the system knows about a published track."""

    track_id: str
    participant_id: str
    kind: str
    source: str
    codec: str
    mid: str


@dataclass
class ForwardingCounters:
    """Totals over the whole process, read by the metrics endpoint and benchmarks."""

    packets_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    retransmissions: int = 0
    keyframe_requests: int = 0


COUNTERS = ForwardingCounters()
