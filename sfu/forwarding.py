"""The hot path, publisher side: RTP packets in, handed to every subscriber, never decoded.

An :class:`UpTrack` is one published track. Its packets arrive from aiortc's
receiver (see :func:`sfu.aiortc_hooks.divert_receiver`); it answers the
publisher with NACKs, receiver reports and REMB, tells keyframes apart, and
hands each packet to every :class:`sfu.downtrack.DownTrack` subscribed to it.
Keyframe requests from subscribers reach the publisher at most once per
``KEYFRAME_REQUEST_INTERVAL``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from aiortc import RTCRtpReceiver
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
    pack_remb_fci,
)

from . import aiortc_hooks as hooks
from .codecs import keyframe_detector
from .tracks import COUNTERS, TrackInfo, ntp_now

if TYPE_CHECKING:
    from .downtrack import DownTrack

logger = logging.getLogger(__name__)

KEYFRAME_REQUEST_INTERVAL = 0.3  # seconds between PLIs sent to one publisher
# Like Janus, Huddle tells each video publisher a fixed bitrate ceiling by REMB
# once a second, rather than estimating the path per packet.
MAX_VIDEO_BITRATE = 2_500_000  # bit/s
REMB_INTERVAL_MS = 1000


class UpTrack:
    """A track as published to the SFU by one participant."""

    def __init__(
        self,
        info: TrackInfo,
        receiver: RTCRtpReceiver,
        codecs: list[RTCRtpCodecParameters],
        codec: RTCRtpCodecParameters,
    ) -> None:
        self.info = info
        self.codec = codec
        self.downtracks: tuple[DownTrack, ...] = ()  # replaced, never mutated: safe to iterate
        self.media_ssrc: int | None = None
        self._receiver = receiver
        self._payload_type = codec.payloadType
        self._rtx_payload_types = {
            c.payloadType
            for c in codecs
            if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") == codec.payloadType
        }
        self._is_keyframe = keyframe_detector(codec)
        self._statistics = hooks.receiver_statistics(receiver)
        self._nacks = NackGenerator() if info.kind == "video" else None
        self._last_remb_ms = 0 if info.kind == "video" else None
        self._last_keyframe_request = 0.0
        self._requests: set[asyncio.Task[None]] = set()
        self._keyframe_wanted = False
        self._closed = False
        self.forwarding = True  # False while muted: packets still arrive, none go out
        hooks.divert_receiver(receiver, self.handle_rtp)

    @property
    def kind(self) -> str:
        return self.info.kind

    async def handle_rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        """Take one RTP packet from the publisher and forward it (the hot path)."""
        if self._closed:
            return
        payload_type = packet.payload_type
        if payload_type == self._payload_type:
            if packet.ssrc != self.media_ssrc:
                self._new_source(packet.ssrc)
        elif payload_type in self._rtx_payload_types and self.media_ssrc is not None:
            packet = self._unwrap_rtx(packet)
            if packet is None:
                return
        else:
            return
        COUNTERS.packets_in += 1

        stats = self._statistics.get(packet.ssrc)
        if stats is None:
            stats = self._statistics[packet.ssrc] = StreamStatistics(self.codec.clockRate)
        stats.add(packet)
        if self._nacks is not None and self._nacks.add(packet):
            await self._send_nack(sorted(self._nacks.missing))
        if self._last_remb_ms is not None and arrival_time_ms - self._last_remb_ms >= REMB_INTERVAL_MS:
            self._last_remb_ms = arrival_time_ms
            await self._send_remb(MAX_VIDEO_BITRATE, [packet.ssrc])

        downtracks = self.downtracks
        if not downtracks or not self.forwarding:
            return
        keyframe = self._is_keyframe is None or self._is_keyframe(packet.payload)
        ntp = ntp_now()
        for downtrack in downtracks:
            await downtrack.forward(packet, keyframe, ntp)

    def set_forwarding(self, forwarding: bool) -> None:
        """Pause or resume forwarding (a mute); subscribers resume at a keyframe."""
        if forwarding and not self.forwarding:
            for downtrack in self.downtracks:
                downtrack.restart()
            self.request_keyframe()
        self.forwarding = forwarding

    def add_downtrack(self, downtrack: DownTrack) -> None:
        if downtrack not in self.downtracks:
            self.downtracks = (*self.downtracks, downtrack)

    def remove_downtrack(self, downtrack: DownTrack) -> None:
        self.downtracks = tuple(d for d in self.downtracks if d is not downtrack)

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, at most once per interval."""
        if self.kind != "video" or self._closed:
            return
        if self.media_ssrc is None:
            self._keyframe_wanted = True
            return
        now = time.monotonic()
        if now - self._last_keyframe_request < KEYFRAME_REQUEST_INTERVAL:
            return
        self._last_keyframe_request = now
        COUNTERS.keyframe_requests += 1
        task = asyncio.ensure_future(hooks.request_keyframe(self._receiver, self.media_ssrc))
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    def close(self) -> None:
        self._closed = True
        self.downtracks = ()

    def _new_source(self, ssrc: int) -> None:
        """The publisher's first packet, or a new SSRC (e.g. after it restarted its encoder)."""
        first = self.media_ssrc is None
        self.media_ssrc = ssrc
        if self._nacks is not None:
            self._nacks = NackGenerator()
        if not first:
            for downtrack in self.downtracks:
                downtrack.restart()
        if self._keyframe_wanted or not first:
            self._keyframe_wanted = False
            self.request_keyframe()

    def _unwrap_rtx(self, packet: RtpPacket) -> RtpPacket | None:
        if len(packet.payload) < 2:
            return None
        original = RtpPacket(
            payload_type=self._payload_type,
            marker=packet.marker,
            sequence_number=int.from_bytes(packet.payload[:2], "big"),
            timestamp=packet.timestamp,
            ssrc=self.media_ssrc,
            payload=packet.payload[2:],
        )
        original.extensions = packet.extensions
        return original

    async def _send_nack(self, lost: list[int]) -> None:
        sender_ssrc = hooks.rtcp_ssrc(self._receiver)
        if sender_ssrc is None or self.media_ssrc is None:
            return
        nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=sender_ssrc, media_ssrc=self.media_ssrc)
        nack.lost = lost
        await hooks.send_rtcp_from_receiver(self._receiver, nack)

    async def _send_remb(self, bitrate: int, ssrcs: list[int]) -> None:
        sender_ssrc = hooks.rtcp_ssrc(self._receiver)
        if sender_ssrc is None:
            return
        remb = RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP, ssrc=sender_ssrc, media_ssrc=0, fci=pack_remb_fci(bitrate, ssrcs)
        )
        await hooks.send_rtcp_from_receiver(self._receiver, remb)
