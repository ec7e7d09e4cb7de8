"""One subscriber's copy of a published track: the per-subscriber half of the hot path.

A :class:`DownTrack` rewrites SSRC, sequence number, timestamp and payload type
into the subscriber's own space, starts only at a keyframe, keeps a history to
answer the subscriber's NACKs, and relays the subscriber's keyframe requests
upstream. It writes each packet's bytes itself (:class:`RtpHeaderWriter`)
rather than through aiortc's general serializer: that is the one step repeated
for every subscriber of every packet.
"""

from __future__ import annotations

import random
from struct import Struct
from typing import TYPE_CHECKING

from aiortc import RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
)

from . import aiortc_hooks as hooks
from .tracks import COUNTERS, NTP_SECOND, ntp_now

if TYPE_CHECKING:
    from .forwarding import UpTrack

HISTORY_SIZE = 512  # packets kept per subscriber for NACK: ~2 s of 1 Mbit/s video
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

# (sequence number, timestamp, marker, payload, audio level) of a packet sent
SentPacket = tuple[int, int, int, bytes, tuple[bool, int] | None]


class RtpHeaderWriter:
    """Builds RTP packets with one-byte header extensions (RFC 8285) for one m-line.

    The extensions Huddle sends are MID, abs-send-time and, for audio, the
    speaker's level, each only if the subscriber negotiated it. Their layout is
    fixed per m-line, so it is worked out once here: each packet is then one
    ``struct`` pack (header and extensions) plus its payload.
    """

    def __init__(self, extensions: list[RTCRtpHeaderExtensionParameters], mid: str) -> None:
        ids = {e.uri: e.id for e in extensions if 1 <= e.id <= 14}
        mid_bytes = mid.encode()
        self._mid_element = b""
        if MID_URI in ids and 1 <= len(mid_bytes) <= 16:
            self._mid_element = bytes([ids[MID_URI] << 4 | (len(mid_bytes) - 1)]) + mid_bytes
        abs_id = ids.get(ABS_SEND_TIME_URI)
        level_id = ids.get(AUDIO_LEVEL_URI)
        # An element's one-byte header (id, length - 1) ORed with its value.
        self._abs_tag = (abs_id << 4 | 2) << 24 if abs_id else 0
        self._level_tag = level_id << 12 if level_id else 0
        self._without_level, self._words = _layout(self._mid_element, bool(abs_id), False)
        self._with_level, self._words_with_level = _layout(self._mid_element, bool(abs_id), bool(level_id))

    def build(
        self,
        payload_type: int,
        marker: int,
        seq: int,
        timestamp: int,
        ssrc: int,
        ntp: int,
        audio_level: tuple[bool, int] | None,
        payload: bytes,
    ) -> bytes:
        second = (marker << 7) | payload_type
        mid = self._mid_element
        abs_tag = self._abs_tag
        if self._level_tag and audio_level is not None:
            level = self._level_tag | (0x80 if audio_level[0] else 0) | (audio_level[1] & 0x7F)
            words = self._words_with_level
            if abs_tag:
                abs_send_time = abs_tag | ((ntp >> 14) & 0x00FFFFFF)
                header = self._with_level.pack(
                    0x90, second, seq, timestamp, ssrc, 0xBEDE, words, mid, abs_send_time, level
                )
            else:
                header = self._with_level.pack(0x90, second, seq, timestamp, ssrc, 0xBEDE, words, mid, level)
        elif not self._words:
            header = self._without_level.pack(0x80, second, seq, timestamp, ssrc)
        elif abs_tag:
            abs_send_time = abs_tag | ((ntp >> 14) & 0x00FFFFFF)
            header = self._without_level.pack(
                0x90, second, seq, timestamp, ssrc, 0xBEDE, self._words, mid, abs_send_time
            )
        else:
            header = self._without_level.pack(0x90, second, seq, timestamp, ssrc, 0xBEDE, self._words, mid)
        return header + payload


def _layout(mid_element: bytes, abs_send_time: bool, audio_level: bool) -> tuple[Struct, int]:
    """The header-and-extensions struct for these elements, and the extension length in words.

    Elements in order: MID (bytes), abs-send-time (4 bytes), audio level (2 bytes), padding.
    No element at all: the plain 12-byte header, length 0.
    """
    size = len(mid_element) + (4 if abs_send_time else 0) + (2 if audio_level else 0)
    if not size:
        return Struct("!BBHLL"), 0
    padding = -size % 4
    elements = f"{len(mid_element)}s" + ("L" if abs_send_time else "") + ("H" if audio_level else "")
    return Struct(f"!BBHLLHH{elements}{padding}x"), (size + padding) >> 2


class DownTrack:
    """One subscriber's copy of an :class:`UpTrack`, written to that subscriber's sender."""

    def __init__(self, uptrack: UpTrack, sender: RTCRtpSender, previous: DownTrack | None = None) -> None:
        """``previous``: the DownTrack that last used ``sender``; numbering continues from it."""
        self.uptrack = uptrack
        self.payload_type: int | None = None
        self.rtx_payload_type: int | None = None
        self.packets_sent = 0
        self.retransmitted = 0
        self._transport = sender.transport
        self._write = hooks.transport_writer(sender.transport)
        self._report_clock = hooks.SenderReportClock(sender)
        self._ssrc, self._rtx_ssrc = hooks.sender_ssrcs(sender)
        own_rtcp = hooks.divert_sender_rtcp(sender, self.handle_rtcp)
        self._aiortc_rtcp = previous._aiortc_rtcp if previous is not None else own_rtcp
        self._writer: RtpHeaderWriter | None = None
        self._seq_offset: int | None = None
        self._ts_offset = 0
        self._next_seq = random.randint(0, 32767)
        self._next_ts = random.getrandbits(32)
        self._rtx_seq = random.randint(0, 32767)
        self._last: tuple[int, int, int] | None = None  # (seq, timestamp, ntp) last sent
        if previous is not None:
            self._rtx_seq = previous._rtx_seq
            self._last = previous._last
            self.restart()
        self._history: list[SentPacket | None] = [None] * HISTORY_SIZE
        self._active = True

    def bind(
        self, codecs: list[RTCRtpCodecParameters], extensions: list[RTCRtpHeaderExtensionParameters], mid: str
    ) -> None:
        """Learn what the subscriber accepted for this m-line; forwarding can start."""
        mime = self.uptrack.codec.mimeType.lower()
        media = next((c for c in codecs if c.mimeType.lower() == mime), None)
        if media is None:
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
        self._writer = RtpHeaderWriter(extensions, mid)
        self.uptrack.request_keyframe()

    def restart(self) -> None:
        """Wait for the next keyframe and continue numbering where this stream left off.

        Used when the source behind this stream changes (a reused m-line, a
        publisher's new SSRC): the subscriber keeps seeing one unbroken stream.
        """
        self._seq_offset = None
        if self._last is not None:
            seq, timestamp, ntp = self._last
            elapsed = (ntp_now() - ntp) / NTP_SECOND
            self._next_seq = (seq + 1) & 0xFFFF
            self._next_ts = (timestamp + int(elapsed * self.uptrack.codec.clockRate) + 1) & 0xFFFFFFFF

    def stop(self) -> None:
        self._active = False

    async def forward(self, packet: RtpPacket, keyframe: bool, ntp: int) -> None:
        writer = self._writer
        if not self._active or writer is None:
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

        seq = (packet.sequence_number + self._seq_offset) & 0xFFFF
        timestamp = (packet.timestamp + self._ts_offset) & 0xFFFFFFFF
        payload = packet.payload
        audio_level = packet.extensions.audio_level
        data = writer.build(
            self.payload_type, packet.marker, seq, timestamp, self._ssrc, ntp, audio_level, payload
        )
        self._history[seq % HISTORY_SIZE] = (seq, timestamp, packet.marker, payload, audio_level)
        try:
            await self._write(data)
        except ConnectionError:
            return
        self._report_clock.sent(timestamp, len(payload), ntp)
        self._last = (seq, timestamp, ntp)
        self.packets_sent += 1
        COUNTERS.packets_out += 1
        COUNTERS.bytes_out += len(payload)

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
        sent = self._history[seq % HISTORY_SIZE]
        if sent is None or sent[0] != seq or self._writer is None or self.payload_type is None:
            return
        _, timestamp, marker, payload, audio_level = sent
        ntp = ntp_now()
        if self.rtx_payload_type is not None:
            data = self._writer.build(
                self.rtx_payload_type,
                marker,
                self._rtx_seq,
                timestamp,
                self._rtx_ssrc,
                ntp,
                audio_level,
                seq.to_bytes(2, "big") + payload,
            )
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        else:
            data = self._writer.build(
                self.payload_type, marker, seq, timestamp, self._ssrc, ntp, audio_level, payload
            )
        try:
            await self._write(data)
        except ConnectionError:
            return
        self.retransmitted += 1
        COUNTERS.retransmissions += 1
