"""Counting received RTP packets without decoding, and loss from their sequence numbers.

A stream is one SSRC as received on one subscriber's track. Loss over a window
is RFC 3550's: packets expected (growth of the highest extended sequence number)
minus packets received, both taken as differences between two snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc.rtp import RtpPacket

StreamKey = str  # "<subscriber>/<kind>/<track>/<ssrc>"


class StreamCounter:
    """Highest extended sequence number, packet and frame counts of one RTP stream."""

    __slots__ = ("received", "frames", "_max_seq", "_cycles")

    def __init__(self) -> None:
        self.received = 0
        self.frames = 0  # packets with the marker bit: the last packet of each video frame
        self._max_seq: int | None = None
        self._cycles = 0

    def add(self, seq: int, marker: int) -> None:
        self.received += 1
        self.frames += marker
        if self._max_seq is None:
            self._max_seq = seq
            return
        if 0 < ((seq - self._max_seq) & 0xFFFF) < 0x8000:  # newer, possibly across a wrap
            if seq < self._max_seq:
                self._cycles += 0x10000
            self._max_seq = seq

    @property
    def highest(self) -> int:
        return self._cycles + (self._max_seq or 0)


@dataclass(frozen=True)
class StreamSnapshot:
    highest: int
    received: int
    frames: int


Snapshot = dict[StreamKey, StreamSnapshot]


class PacketCounter:
    """Every stream received in one client process."""

    def __init__(self) -> None:
        self.streams: dict[StreamKey, StreamCounter] = {}

    def add(self, label: str, packet: RtpPacket) -> None:
        key = f"{label}/{packet.ssrc}"
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = StreamCounter()
        stream.add(packet.sequence_number, packet.marker)

    def labels_receiving(self) -> set[str]:
        return {key.rsplit("/", 1)[0] for key in self.streams}

    def snapshot(self) -> Snapshot:
        return {k: StreamSnapshot(s.highest, s.received, s.frames) for k, s in self.streams.items()}


@dataclass(frozen=True)
class LossFigures:
    streams: int
    expected: int
    received: int
    worst_stream_loss: float  # fraction

    @property
    def lost(self) -> int:
        return max(self.expected - self.received, 0)

    @property
    def loss(self) -> float:
        return self.lost / self.expected if self.expected else 0.0


def loss_between(before: Snapshot, after: Snapshot) -> LossFigures:
    """Loss over the streams present in both snapshots (the measurement window)."""
    expected = received = 0
    worst = 0.0
    streams = 0
    for key, end in after.items():
        start = before.get(key)
        if start is None:
            continue
        streams += 1
        stream_expected = end.highest - start.highest
        stream_received = end.received - start.received
        expected += stream_expected
        received += stream_received
        if stream_expected > 0:
            worst = max(worst, (stream_expected - stream_received) / stream_expected)
    return LossFigures(streams, expected, received, worst)


def video_frame_rates(before: Snapshot, after: Snapshot, seconds: float) -> list[float]:
    """Frames per second of each video stream in both snapshots: are frames being dropped?"""
    return [
        (end.frames - before[key].frames) / seconds
        for key, end in after.items()
        if "/video/" in key and key in before
    ]


def merge(snapshots: list[Snapshot]) -> Snapshot:
    merged: Snapshot = {}
    for snapshot in snapshots:
        merged.update(snapshot)
    return merged
