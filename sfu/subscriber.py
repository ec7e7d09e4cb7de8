"""A participant's subscriber connection: the SFU offers, the client answers.

Every m-line is send-only from the SFU and carries one :class:`DownTrack`. When
a track goes away its m-line becomes inactive and waits to be reused by the
next track of the same kind and codec, so a long meeting with people coming and
going does not grow the SDP without bound (aiortc cannot remove m-lines).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription

from . import aiortc_hooks as hooks
from .codecs import subscriber_preferences
from .downtrack import DownTrack
from .errors import InvalidSdp, NegotiationError
from .events import SubscribedTrack
from .forwarding import UpTrack
from .negotiation import add_remote_candidate, parse_sdp, server_configuration
from .network import MediaPortsExhausted, sfu_gathering

logger = logging.getLogger(__name__)

OfferHandler = Callable[[str, tuple[SubscribedTrack, ...]], Awaitable[None]]


@dataclass
class Subscription:
    downtrack: DownTrack
    transceiver: RTCRtpTransceiver


class SubscriberConnection:
    def __init__(self, on_offer: OfferHandler, on_failed: Callable[[], None]) -> None:
        self.subscriptions: dict[str, Subscription] = {}
        self._idle: list[Subscription] = []  # inactive m-lines, ready for reuse
        self._on_offer = on_offer
        self._on_failed = on_failed
        self._pc: RTCPeerConnection | None = None
        self._lock = asyncio.Lock()
        self._awaiting_answer = False
        self._offered_mids: set[str] = set()
        self._negotiate_again = False
        self._closed = False

    @property
    def m_line_count(self) -> int:
        return len(self._pc.getTransceivers()) if self._pc else 0

    async def subscribe(self, uptracks: list[UpTrack]) -> None:
        """Start forwarding ``uptracks`` (renegotiates)."""
        fresh = [u for u in uptracks if u.info.track_id not in self.subscriptions]
        if not fresh or self._closed:
            return
        pc = self._pc or self._create()
        for uptrack in fresh:
            reused = self._take_idle(uptrack)
            if reused is not None:
                transceiver, previous = reused.transceiver, reused.downtrack
                transceiver.direction = "sendonly"
            else:
                transceiver = pc.addTransceiver(hooks.IdleTrack(uptrack.kind), direction="sendonly")
                transceiver.setCodecPreferences(subscriber_preferences(uptrack.codec, uptrack.kind))
                previous = None
            downtrack = DownTrack(uptrack, transceiver.sender, previous)
            self.subscriptions[uptrack.info.track_id] = Subscription(downtrack, transceiver)
        await self._negotiate()

    async def unsubscribe(self, track_ids: list[str]) -> None:
        """Stop forwarding these tracks; their m-lines become inactive."""
        changed = False
        for track_id in track_ids:
            subscription = self.subscriptions.pop(track_id, None)
            if subscription is None:
                continue
            subscription.downtrack.stop()
            subscription.downtrack.uptrack.remove_downtrack(subscription.downtrack)
            subscription.transceiver.direction = "inactive"
            self._idle.append(subscription)
            changed = True
        if changed and not self._closed:
            await self._negotiate()

    def _take_idle(self, uptrack: UpTrack) -> Subscription | None:
        for subscription in self._idle:
            old = subscription.downtrack.uptrack
            if (
                subscription.transceiver.mid is not None
                and old.kind == uptrack.kind
                and old.codec.mimeType.lower() == uptrack.codec.mimeType.lower()
                and old.codec.parameters == uptrack.codec.parameters
            ):
                self._idle.remove(subscription)
                return subscription
        return None

    async def accept_answer(self, answer_sdp: str) -> None:
        if self._pc is None or not self._awaiting_answer:
            raise NegotiationError("no subscription offer is waiting for an answer")
        parse_sdp(answer_sdp, "answer")
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))
        except Exception as exc:
            raise InvalidSdp(f"answer rejected: {exc}") from exc
        self._awaiting_answer = False
        for subscription in self.subscriptions.values():
            downtrack = subscription.downtrack
            transceiver = subscription.transceiver
            if downtrack.payload_type is None and transceiver.mid in self._offered_mids:
                downtrack.bind(
                    hooks.negotiated_codecs(transceiver),
                    hooks.negotiated_header_extensions(transceiver),
                    transceiver.mid,
                )
                if downtrack.payload_type is not None:
                    downtrack.uptrack.add_downtrack(downtrack)
        if self._negotiate_again:
            self._negotiate_again = False
            await self._negotiate()

    async def add_ice_candidate(
        self, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        if self._pc is None:
            raise NegotiationError("no subscriber connection yet")
        await add_remote_candidate(self._pc, candidate, sdp_mid, sdp_mline_index)

    def _create(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(server_configuration())
        self._pc = pc

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "failed":
                self._on_failed()

        return pc

    async def _negotiate(self) -> None:
        async with self._lock:
            pc = self._pc
            if pc is None or self._closed:
                return
            if self._awaiting_answer:
                self._negotiate_again = True
                return
            self._awaiting_answer = True
            try:
                with sfu_gathering():  # media port range, announced address
                    await pc.setLocalDescription(await pc.createOffer())
            except MediaPortsExhausted as exc:
                # No socket for this connection: it can never carry media. Signalling
                # ends the participant's session ("media connection failed").
                logger.warning("cannot offer subscriptions: %s", exc)
                self._awaiting_answer = False
                self._on_failed()
                return
            tracks = []
            for subscription in self.subscriptions.values():
                mid = subscription.transceiver.mid or ""
                info = subscription.downtrack.uptrack.info
                tracks.append(
                    SubscribedTrack(mid, info.track_id, info.participant_id, info.kind, info.source)
                )
            self._offered_mids = {t.mid for t in tracks}
            sdp = pc.localDescription.sdp
        await self._on_offer(sdp, tuple(tracks))

    async def close(self) -> None:
        self._closed = True
        for subscription in self.subscriptions.values():
            subscription.downtrack.stop()
            subscription.downtrack.uptrack.remove_downtrack(subscription.downtrack)
        self.subscriptions.clear()
        if self._pc is not None:
            try:
                await asyncio.wait_for(self._pc.close(), timeout=5)
            except Exception:
                logger.warning("closing a subscriber connection failed", exc_info=True)
