"""The hot path: RTP packets in from a publisher, out to each subscriber, never decoded.

An :class:`UpTrack` is one published track. Its packets arrive from aiortc's
receiver (see :func:`sfu.aiortc_hooks.divert_receiver`); it answers the
publisher with NACKs, receiver reports and REMB, and hands each packet to every
:class:`DownTrack`.

A :class:`DownTrack` is one subscriber's copy of an UpTrack. It rewrites SSRC,
sequence number, timestamp and payload type into the subscriber's own space,
starts only at a keyframe, keeps a history to answer the subscriber's NACKs,
and relays the subscriber's keyframe requests upstream (rate-limited).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
    pack_remb_fci,
    wrap_rtx,
)

from . import aiortc_hooks as hooks
from .codecs import keyframe_detector

logger = logging.getLogger(__name__)

NTP_EPOCH_OFFSET = 2208988800
HISTORY_SIZE = 512  # packets kept per subscriber for NACK: ~2 s of 1 Mbit/s video
KEYFRAME_REQUEST_INTERVAL = 0.3  # seconds between PLIs sent to one publisher
MAX_VIDEO_BITRATE = 2_500_000  # REMB cap sent to publishers, bit/s


def ntp_now() -> int:
    """The current wall-clock time as a 64-bit NTP timestamp."""
    return int((time.time() + NTP_EPOCH_OFFSET) * 4294967296.0)


@dataclass
class ForwardingCounters:
    """Totals over the whole process, read by the metrics endpoint and benchmarks."""

    packets_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    retransmissions: int = 0
    keyframe_requests: int = 0


COUNTERS = ForwardingCounters()


@dataclass
class TrackInfo:
    """What the rest of the system knows about a published track."""

    track_id: str
    participant_id: str
    kind: str
    source: str
    codec: str
    mid: str


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
        self.downtracks: list[DownTrack] = []
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
        self._bitrate = RemoteBitrateEstimator() if info.kind == "video" else None
        self._last_keyframe_request = 0.0
        self._keyframe_wanted = False
        self._closed = False
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
        if self._bitrate is not None and packet.extensions.abs_send_time is not None:
            estimate = self._bitrate.add(
                abs_send_time=packet.extensions.abs_send_time,
                arrival_time_ms=arrival_time_ms,
                payload_size=len(packet.payload) + packet.padding_size,
                ssrc=packet.ssrc,
            )
            if estimate is not None:
                await self._send_remb(min(estimate[0], MAX_VIDEO_BITRATE), estimate[1])

        keyframe = self._is_keyframe is None or self._is_keyframe(packet.payload)
        ntp = ntp_now()
        for downtrack in self.downtracks:
            await downtrack.forward(packet, keyframe, ntp)

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
        asyncio.ensure_future(hooks.request_keyframe(self._receiver, self.media_ssrc))

    def close(self) -> None:
        self._closed = True
        self.downtracks.clear()

    def _new_source(self, ssrc: int) -> None:
        self.media_ssrc = ssrc
        if self._nacks is not None:
            self._nacks = NackGenerator()
        if self._keyframe_wanted:
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


class DownTrack:
    """One subscriber's copy of an :class:`UpTrack`, written to that subscriber's sender."""

    def __init__(
        self, uptrack: UpTrack, sender: RTCRtpSender, mid: str, previous: DownTrack | None = None
    ) -> None:
        """``previous``: the DownTrack that last used ``sender``; numbering continues from it."""
        self.uptrack = uptrack
        self.mid = mid
        self.payload_type: int | None = None
        self.rtx_payload_type: int | None = None
        self.packets_sent = 0
        self.retransmitted = 0
        self._transport = sender.transport
        self._write = hooks.transport_writer(sender.transport)
        self._extensions = hooks.extensions_map(sender.transport)
        self._report_clock = hooks.SenderReportClock(sender)
        self._ssrc, self._rtx_ssrc = hooks.sender_ssrcs(sender)
        own_rtcp = hooks.divert_sender_rtcp(sender, self.handle_rtcp)
        self._aiortc_rtcp = previous._aiortc_rtcp if previous is not None else own_rtcp
        self._seq_offset: int | None = None
        self._ts_offset = 0
        self._last_seq: int | None = None
        self._last_ts = 0
        self._last_ntp = 0
        if previous is not None and previous._last_seq is not None:
            # Same SSRC as before: the subscriber must see one unbroken stream.
            elapsed = (ntp_now() - previous._last_ntp) / 4294967296.0
            self._next_seq = (previous._last_seq + 1) & 0xFFFF
            self._next_ts = (previous._last_ts + int(elapsed * uptrack.codec.clockRate) + 1) & 0xFFFFFFFF
            self._rtx_seq = previous._rtx_seq
        else:
            self._next_seq = random.randint(0, 32767)
            self._next_ts = random.getrandbits(32)
            self._rtx_seq = random.randint(0, 32767)
        self._history: list[RtpPacket | None] = [None] * HISTORY_SIZE
        self._active = True

    def bind(self, codecs: list[RTCRtpCodecParameters]) -> None:
        """Learn the payload types the subscriber accepted for this track."""
        mime = self.uptrack.codec.mimeType.lower()
        media = next((c for c in codecs if c.mimeType.lower() == mime), None)
        if media is None:
            logger.warning("subscriber has no %s for track %s", mime, self.uptrack.info.track_id)
            self.payload_type = None
            return
        self.payload_type = media.payloadType
        rtx = next(
            (
                c
                for c in codecs
                if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") == media.payloadType
            ),
            None,
        )
        self.rtx_payload_type = rtx.payloadType if rtx else None
        self.uptrack.request_keyframe()

    def stop(self) -> None:
        self._active = False

    async def forward(self, packet: RtpPacket, keyframe: bool, ntp: int) -> None:
        if not self._active or self.payload_type is None:
            return
        if self._seq_offset is None:
            # Start this subscriber at a keyframe, once its transport can carry it.
            if not hooks.transport_connected(self._transport):
                return
            if not keyframe:
                self.uptrack.request_keyframe()
                return
            self._seq_offset = (self._next_seq - packet.sequence_number) & 0xFFFF
            self._ts_offset = (self._next_ts - packet.timestamp) & 0xFFFFFFFF

        out = RtpPacket(
            payload_type=self.payload_type,
            marker=packet.marker,
            sequence_number=(packet.sequence_number + self._seq_offset) & 0xFFFF,
            timestamp=(packet.timestamp + self._ts_offset) & 0xFFFFFFFF,
            ssrc=self._ssrc,
            payload=packet.payload,
        )
        extensions = out.extensions
        extensions.mid = self.mid
        extensions.abs_send_time = (ntp >> 14) & 0x00FFFFFF
        extensions.audio_level = packet.extensions.audio_level
        self._history[out.sequence_number % HISTORY_SIZE] = out
        try:
            await self._write(out.serialize(self._extensions))
        except ConnectionError:
            return
        self._report_clock.sent(out.timestamp, len(packet.payload), ntp)
        self._last_seq = out.sequence_number
        self._last_ts = out.timestamp
        self._last_ntp = ntp
        self.packets_sent += 1
        COUNTERS.packets_out += 1
        COUNTERS.bytes_out += len(packet.payload)

    async def handle_rtcp(self, packet: AnyRtcpPacket) -> None:
        """RTCP feedback from the subscriber about this track."""
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            for seq in packet.lost:
                await self._retransmit(seq)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            self.uptrack.request_keyframe()
        else:
            await self._aiortc_rtcp(packet)

    async def _retransmit(self, seq: int) -> None:
        packet = self._history[seq % HISTORY_SIZE]
        if packet is None or packet.sequence_number != seq:
            return
        if self.rtx_payload_type is not None:
            packet = wrap_rtx(
                packet,
                payload_type=self.rtx_payload_type,
                sequence_number=self._rtx_seq,
                ssrc=self._rtx_ssrc,
            )
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        try:
            await self._write(packet.serialize(self._extensions))
        except ConnectionError:
            return
        self.retransmitted += 1
        COUNTERS.retransmissions += 1
