"""Every place where Huddle reaches into aiortc's private parts, in one module.

aiortc is a WebRTC endpoint, not an SFU: it wants to decode what it receives and
encode what it sends. Huddle keeps aiortc's ICE, DTLS, SRTP, SDP and RTCP
machinery and cuts the media path at two points:

* RTP in: the receiver's ``_handle_rtp_packet`` is replaced per instance, so
  packets go to Huddle's forwarder instead of the jitter buffer and decoder.
* RTP out: Huddle writes already-encoded packets straight to the DTLS
  transport's ``_send_rtp`` (which applies the subscriber's SRTP), while the
  sender's own loop sits idle on a track that never yields a frame.

One fix on top, for the SFU and the Python client alike: retransmissions (RTX)
are routed to their receiver by its RTX SSRC (``route_retransmissions``).

The names used here are private to aiortc 1.16.0, which ``pyproject.toml`` pins;
``tests/test_aiortc_hooks.py`` fails if an upgrade moves any of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import is_rtx
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import AnyRtcpPacket, HeaderExtensionsMap, RtpPacket

RtpHandler = Callable[[RtpPacket, int], Awaitable[None]]
RtcpHandler = Callable[[AnyRtcpPacket], Awaitable[None]]


class IdleTrack(MediaStreamTrack):
    """A track that never yields a frame.

    An aiortc sender needs a track, or its loop polls every 20 ms. With this one
    the loop blocks in ``recv()`` at no cost, and no encoder is ever created.
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def recv(self) -> Any:
        await asyncio.shield(self._ended)
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        if not self._ended.done():
            self._ended.set_result(None)


# --- receive side -----------------------------------------------------------


def divert_receiver(receiver: RTCRtpReceiver, handler: RtpHandler) -> None:
    """Send every RTP packet the receiver gets to ``handler``, never to a decoder."""
    receiver._handle_rtp_packet = handler  # type: ignore[method-assign]


def receiver_statistics(receiver: RTCRtpReceiver) -> dict[int, StreamStatistics]:
    """The per-SSRC statistics aiortc's receiver turns into RTCP receiver reports.

    Feeding this dict keeps the reports to the publisher true although the
    receiver's own packet handler no longer runs.
    """
    return receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]


async def send_rtcp_from_receiver(receiver: RTCRtpReceiver, packet: AnyRtcpPacket) -> None:
    """Send an RTCP packet (NACK, REMB) towards the publisher of ``receiver``."""
    await receiver._send_rtcp(packet)


async def request_keyframe(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Send a PLI for ``media_ssrc`` to the publisher of ``receiver``."""
    await receiver._send_rtcp_pli(media_ssrc)


def route_retransmissions(pc: RTCPeerConnection) -> None:
    """Let retransmissions (RTX) reach their receiver on every transport of ``pc``.

    aiortc's RTP router knows each receiver's media SSRC only and routes any other
    SSRC by payload type, which is ambiguous as soon as two video m-lines share the
    RTX payload type: it dropped those retransmissions. A lost packet then stayed
    lost, and an aiortc receiver held every later frame behind the hole until its
    512-packet jitter buffer overflowed (half a minute at a low frame rate). This
    falls back to the receivers' own RTX SSRC maps (from the SDP's FID groups).
    """
    for transceiver in pc.getTransceivers():
        transport = transceiver.receiver.transport
        if transport is None:  # aiortc leaves it unset for some malformed offers
            continue
        router = transport._rtp_router
        if getattr(router, "huddle_routes_rtx", False):
            continue
        route_by_table = router.route_rtp

        def route_rtp(packet: RtpPacket, router: Any = router, route_by_table: Any = route_by_table) -> Any:
            receiver = route_by_table(packet)
            if receiver is None:
                for candidate in router.receivers:
                    if packet.ssrc in getattr(candidate, "_RTCRtpReceiver__rtx_ssrc", {}):
                        router.ssrc_table[packet.ssrc] = candidate
                        return candidate
            return receiver

        router.route_rtp = route_rtp
        router.huddle_routes_rtx = True


def rtcp_ssrc(receiver: RTCRtpReceiver) -> int | None:
    """The SSRC this receiver's RTCP feedback is sent from."""
    return receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]


# --- send side --------------------------------------------------------------


def divert_sender_rtcp(sender: RTCRtpSender, handler: RtcpHandler) -> RtcpHandler:
    """Route RTCP feedback for ``sender`` (NACK, PLI, FIR, RR) to ``handler``.

    Returns aiortc's own handler, which still keeps round-trip statistics when
    given receiver reports.
    """
    original: RtcpHandler = sender._handle_rtcp_packet
    sender._handle_rtcp_packet = handler  # type: ignore[method-assign]
    return original


class SenderReportClock:
    """Keeps an idle aiortc sender's RTCP sender reports true.

    aiortc builds each sender report from four counters its own RTP loop would
    update. Huddle bypasses that loop, so it updates them for every packet it
    writes: packet and octet counts, and the NTP/RTP timestamp pair that lets the
    receiver line audio up with video.
    """

    __slots__ = ("_sender",)

    def __init__(self, sender: RTCRtpSender) -> None:
        self._sender = sender

    def sent(self, rtp_timestamp: int, payload_size: int, ntp_time: int) -> None:
        sender = self._sender
        sender._RTCRtpSender__ntp_timestamp = ntp_time  # type: ignore[attr-defined]
        sender._RTCRtpSender__rtp_timestamp = rtp_timestamp  # type: ignore[attr-defined]
        sender._RTCRtpSender__octet_count += payload_size  # type: ignore[attr-defined]
        sender._RTCRtpSender__packet_count += 1  # type: ignore[attr-defined]


def change_sender_ssrc(sender: RTCRtpSender, ssrc: int) -> None:
    """Make ``sender`` send as ``ssrc`` and receive RTCP feedback for it."""
    sender._ssrc = ssrc
    sender.transport._rtp_router.register_sender(sender, ssrc)


def sender_ssrcs(sender: RTCRtpSender) -> tuple[int, int]:
    """The SSRCs the sender announced in SDP: (media, retransmission)."""
    return sender._ssrc, sender._rtx_ssrc


def transport_writer(transport: RTCDtlsTransport) -> Callable[[bytes], Awaitable[None]]:
    """The coroutine that protects an RTP/RTCP packet with SRTP and sends it."""
    return transport._send_rtp


def extensions_map(transport: RTCDtlsTransport) -> HeaderExtensionsMap:
    """The header extension ids negotiated on this (bundled) transport."""
    return transport._rtp_header_extensions_map


def transport_connected(transport: RTCDtlsTransport) -> bool:
    return transport.state == "connected"


async def wait_connected(transport: RTCDtlsTransport) -> None:
    """Return once the DTLS transport is connected; raise ConnectionError if it closes first."""
    changed = asyncio.Event()
    transport.on("statechange", changed.set)
    try:
        while transport.state != "connected":
            if transport.state in ("closed", "failed"):
                raise ConnectionError(f"transport {transport.state}")
            changed.clear()
            await changed.wait()
    finally:
        transport.remove_listener("statechange", changed.set)


# --- negotiation ------------------------------------------------------------


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """The codecs negotiated for a transceiver, in preference order."""
    return transceiver._codecs


def negotiated_header_extensions(
    transceiver: RTCRtpTransceiver,
) -> list[RTCRtpHeaderExtensionParameters]:
    return transceiver._headerExtensions


def keep_only_codec(transceiver: RTCRtpTransceiver, codec: RTCRtpCodecParameters) -> None:
    """Answer with one media codec (and its RTX) so the publisher's choice is known."""
    transceiver._codecs = [
        c
        for c in transceiver._codecs
        if c is codec or (is_rtx(c) and c.parameters.get("apt") == codec.payloadType)
    ]
