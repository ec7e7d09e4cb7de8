"""A participant's publisher connection: the client offers, the SFU answers.

It carries the tracks the participant sends (each becomes an :class:`UpTrack`)
and the chat data channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiortc import RTCDataChannel, RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc.sdp import SessionDescription

from . import aiortc_hooks as hooks
from .codecs import choose_codec
from .errors import InvalidSdp, NegotiationError, PermissionDenied
from .forwarding import UpTrack
from .negotiation import (
    active_port_zero_mids,
    add_remote_candidate,
    check_publishable_codecs,
    m_line_in_use,
    parse_sdp,
    server_configuration,
)
from .network import MediaPortsExhausted, sfu_gathering
from .tracks import TrackInfo

logger = logging.getLogger(__name__)

CHAT_CHANNEL_LABEL = "chat"
PENDING_DATA_LIMIT = 200  # messages kept for a participant whose channel is not open yet
INCOMING_DATA_LIMIT = 256  # messages from one participant waiting to be handled
SENDING_DIRECTIONS = ("sendonly", "sendrecv")
SOURCE_KINDS = {"camera": "video", "screen": "video", "microphone": "audio", "screen_audio": "audio"}

DataHandler = Callable[[str], Awaitable[None]]


@dataclass
class PublishResult:
    """The answer to a publish offer, and which tracks it started and stopped."""

    sdp: str
    added: list[TrackInfo]
    removed: list[TrackInfo]


class PublisherConnection:
    def __init__(self, participant_id: str, on_data: DataHandler, on_failed: Callable[[], None]) -> None:
        self.participant_id = participant_id
        self.uptracks: dict[str, UpTrack] = {}
        self.dropped_data = 0
        self._on_data = on_data
        self._on_failed = on_failed
        self._pc: RTCPeerConnection | None = None
        self._lock = asyncio.Lock()
        self._chat: RTCDataChannel | None = None
        self._outgoing: deque[str] = deque(maxlen=PENDING_DATA_LIMIT)
        self._incoming: asyncio.Queue[str] = asyncio.Queue(INCOMING_DATA_LIMIT)
        self._delivery: asyncio.Task[None] | None = None

    async def publish(
        self, offer_sdp: str, sources: dict[str, str], allowed_sources: frozenset[str] | None = None
    ) -> PublishResult:
        """Apply the client's offer and answer it; tracks start or stop as the offer says.

        With ``allowed_sources`` set, an offer sending any other source is refused whole.
        """
        async with self._lock:
            description = parse_sdp(offer_sdp, "offer")
            bundle_only = active_port_zero_mids(offer_sdp)
            check_publishable_codecs(description, bundle_only)
            self._check_sources(description, bundle_only, sources, allowed_sources)
            pc = self._pc or self._create()
            try:
                await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            except Exception as exc:
                raise InvalidSdp(f"offer rejected: {exc}") from exc
            hooks.route_retransmissions(pc)

            media_by_mid = {m.rtp.muxId: m for m in description.media}
            by_mid = {t.info.mid: t for t in self.uptracks.values()}
            new: list[UpTrack] = []
            gone: list[UpTrack] = []
            for transceiver in pc.getTransceivers():
                media = media_by_mid.get(transceiver.mid)
                sending = (
                    media is not None
                    and m_line_in_use(media, bundle_only)
                    and media.direction in SENDING_DIRECTIONS
                )
                existing = by_mid.get(transceiver.mid)
                if existing is not None and not sending:
                    gone.append(existing)
                elif existing is None and sending:
                    new.append(self._make_uptrack(transceiver, sources))
            try:
                with sfu_gathering():  # media port range, announced address
                    await pc.setLocalDescription(await pc.createAnswer())
            except Exception as exc:
                for uptrack in new:
                    uptrack.close()
                if isinstance(exc, MediaPortsExhausted):
                    # aiortc never gathers twice: start afresh on the next offer.
                    self._pc = None
                    await pc.close()
                raise NegotiationError(f"cannot answer that offer: {exc}") from exc

            # Only now, with the answer made, do tracks start and stop.
            for uptrack in new:
                self.uptracks[uptrack.info.track_id] = uptrack
            for uptrack in gone:
                uptrack.close()
                del self.uptracks[uptrack.info.track_id]
            return PublishResult(pc.localDescription.sdp, [u.info for u in new], [u.info for u in gone])

    def _check_sources(
        self,
        description: SessionDescription,
        bundle_only: set[str],
        sources: dict[str, str],
        allowed: frozenset[str] | None,
    ) -> None:
        for media in description.media:
            if (
                media.kind not in SOURCE_KINDS.values()
                or media.direction not in SENDING_DIRECTIONS
                or not m_line_in_use(media, bundle_only)
            ):
                continue
            source = sources.get(media.rtp.muxId or "", default_source(media.kind))
            if SOURCE_KINDS.get(source) != media.kind:
                raise PermissionDenied(f"a {media.kind} track cannot be published as {source!r}")
            if allowed is not None and source not in allowed:
                raise PermissionDenied(f"you may not publish {source!r}")

    def stop_tracks(self, track_ids: list[str]) -> list[TrackInfo]:
        """Stop forwarding these tracks (e.g. the publish grant was withdrawn)."""
        stopped = []
        for track_id in track_ids:
            uptrack = self.uptracks.pop(track_id, None)
            if uptrack is not None:
                uptrack.close()
                stopped.append(uptrack.info)
        return stopped

    def _create(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(server_configuration())
        self._pc = pc

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            if channel.label == CHAT_CHANNEL_LABEL and self._chat is None:
                self._attach_chat(channel)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "failed":
                self._on_failed()

        return pc

    def _make_uptrack(self, transceiver: RTCRtpTransceiver, sources: dict[str, str]) -> UpTrack:
        codecs = hooks.negotiated_codecs(transceiver)
        codec = choose_codec(transceiver.kind, codecs)
        assert codec is not None, "check_publishable_codecs let an unsupported m-line through"
        hooks.keep_only_codec(transceiver, codec)
        mid = transceiver.mid or ""
        info = TrackInfo(
            track_id="TR_" + secrets.token_hex(6),
            participant_id=self.participant_id,
            kind=transceiver.kind,
            source=sources.get(mid, default_source(transceiver.kind)),
            codec=codec.mimeType,
            mid=mid,
        )
        return UpTrack(info, transceiver.receiver, hooks.negotiated_codecs(transceiver), codec)

    async def add_ice_candidate(
        self, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        if self._pc is None:
            raise NegotiationError("no publisher connection yet: send publish_offer first")
        await add_remote_candidate(self._pc, candidate, sdp_mid, sdp_mline_index)

    # --- chat data channel ----------------------------------------------------

    def _attach_chat(self, channel: RTCDataChannel) -> None:
        self._chat = channel
        self._delivery = asyncio.create_task(self._deliver())

        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            if isinstance(message, bytes):
                message = message.decode("utf-8", errors="replace")
            try:
                self._incoming.put_nowait(message)
            except asyncio.QueueFull:
                self.dropped_data += 1  # a flooding client loses its own excess, nobody else's

        @channel.on("open")
        def on_open() -> None:
            self._flush()

        self._flush()

    async def _deliver(self) -> None:
        """Hand incoming messages on one at a time, so a sender's order is kept."""
        while True:
            message = await self._incoming.get()
            try:
                await self._on_data(message)
            except Exception:
                logger.exception("handling a data channel message failed")

    def send_data(self, payload: str) -> None:
        """Send on the chat channel, or hold the message until the channel opens."""
        self._outgoing.append(payload)
        self._flush()

    def _flush(self) -> None:
        channel = self._chat
        while self._outgoing and channel is not None and channel.readyState == "open":
            channel.send(self._outgoing.popleft())

    async def close(self) -> None:
        if self._delivery is not None:
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
        for uptrack in self.uptracks.values():
            uptrack.close()
        if self._pc is not None:
            try:
                await asyncio.wait_for(self._pc.close(), timeout=5)
            except Exception:
                logger.warning("closing a publisher connection failed", exc_info=True)


def default_source(kind: str) -> str:
    """The source of a track its publisher did not name."""
    return "microphone" if kind == "audio" else "camera"
