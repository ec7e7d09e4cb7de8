"""One participant's two peer connections, as LiveKit does it.

* The publisher connection is offered by the client. It carries the tracks the
  participant sends, and the chat data channel.
* The subscriber connection is offered by the SFU whenever tracks come or go.
  Every m-line on it is send-only from the SFU.

Because each side offers on its own connection only, offers never collide.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from dataclasses import dataclass

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.sdp import SessionDescription, candidate_from_sdp

from . import aiortc_hooks as hooks
from .codecs import choose_codec, subscriber_preferences
from .errors import InvalidCandidate, InvalidSdp, NegotiationError, UnsupportedCodec
from .events import (
    DataReceived,
    EventSink,
    MediaConnectionLost,
    SubscribedTrack,
    SubscriptionOffer,
)
from .forwarding import DownTrack, TrackInfo, UpTrack

logger = logging.getLogger(__name__)

CHAT_CHANNEL_LABEL = "chat"
PENDING_DATA_LIMIT = 200  # messages kept for a participant whose channel is not open yet
INCOMING_DATA_LIMIT = 256  # messages from one participant waiting to be handled
SENDING_DIRECTIONS = ("sendonly", "sendrecv")


@dataclass
class PublishResult:
    """The answer to a publish offer, and which tracks it started and stopped."""

    sdp: str
    added: list[TrackInfo]
    removed: list[TrackInfo]


@dataclass
class Subscription:
    downtrack: DownTrack
    transceiver: RTCRtpTransceiver


def _server_configuration() -> RTCConfiguration:
    # An explicit empty list: left as None, aiortc would use a public STUN server.
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def _parse_sdp(sdp: str, expected_type: str) -> SessionDescription:
    if not sdp.startswith("v=0"):
        raise InvalidSdp("SDP must start with v=0")
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc raises several types on malformed lines
        raise InvalidSdp(f"unparseable SDP: {exc}") from exc
    if not description.media:
        raise InvalidSdp(f"{expected_type} has no media sections")
    return description


class MediaParticipant:
    """The media-plane state of one participant in one room."""

    def __init__(self, room_id: str, participant_id: str, emit: EventSink) -> None:
        self.room_id = room_id
        self.participant_id = participant_id
        self.uptracks: dict[str, UpTrack] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self._emit = emit
        self._publisher: RTCPeerConnection | None = None
        self._subscriber: RTCPeerConnection | None = None
        self._chat: RTCDataChannel | None = None
        self._pending_data: deque[str] = deque(maxlen=PENDING_DATA_LIMIT)
        self._incoming_data: asyncio.Queue[str] = asyncio.Queue(INCOMING_DATA_LIMIT)
        self._data_task: asyncio.Task[None] | None = None
        self.dropped_data = 0
        self._publish_lock = asyncio.Lock()
        self._negotiation_lock = asyncio.Lock()
        self._awaiting_answer = False
        self._negotiate_again = False
        self._closed = False

    # --- publishing -----------------------------------------------------------

    async def publish(self, offer_sdp: str, sources: dict[str, str]) -> PublishResult:
        """Apply the client's offer on its publisher connection and answer it."""
        async with self._publish_lock:
            description = _parse_sdp(offer_sdp, "offer")
            pc = self._publisher or self._create_publisher()
            try:
                await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            except Exception as exc:
                raise InvalidSdp(f"offer rejected: {exc}") from exc

            media_by_mid = {m.rtp.muxId: m for m in description.media}
            added: list[TrackInfo] = []
            removed: list[TrackInfo] = []
            by_mid = {t.info.mid: t for t in self.uptracks.values()}
            for transceiver in pc.getTransceivers():
                media = media_by_mid.get(transceiver.mid)
                sending = media is not None and media.port != 0 and media.direction in SENDING_DIRECTIONS
                existing = by_mid.get(transceiver.mid)
                if existing is not None and not sending:
                    removed.append(self._remove_uptrack(existing))
                elif existing is None and sending:
                    added.append(self._add_uptrack(transceiver, sources))

            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
            return PublishResult(pc.localDescription.sdp, added, removed)

    def _create_publisher(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(_server_configuration())
        self._publisher = pc

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            if channel.label == CHAT_CHANNEL_LABEL and self._chat is None:
                self._attach_chat(channel)

        self._watch(pc)
        return pc

    def _add_uptrack(self, transceiver: RTCRtpTransceiver, sources: dict[str, str]) -> TrackInfo:
        codecs = hooks.negotiated_codecs(transceiver)
        codec = choose_codec(transceiver.kind, codecs)
        if codec is None:
            offered = ", ".join(c.mimeType for c in codecs) or "none"
            raise UnsupportedCodec(f"no supported {transceiver.kind} codec (offered: {offered})")
        hooks.keep_only_codec(transceiver, codec)
        default_source = "microphone" if transceiver.kind == "audio" else "camera"
        info = TrackInfo(
            track_id="TR_" + secrets.token_hex(6),
            participant_id=self.participant_id,
            kind=transceiver.kind,
            source=sources.get(transceiver.mid or "", default_source),
            codec=codec.mimeType,
            mid=transceiver.mid or "",
        )
        self.uptracks[info.track_id] = UpTrack(
            info, transceiver.receiver, hooks.negotiated_codecs(transceiver), codec
        )
        return info

    def _remove_uptrack(self, uptrack: UpTrack) -> TrackInfo:
        uptrack.close()
        del self.uptracks[uptrack.info.track_id]
        return uptrack.info

    # --- subscribing ----------------------------------------------------------

    async def subscribe(self, uptracks: list[UpTrack]) -> None:
        """Start forwarding ``uptracks`` to this participant (renegotiates)."""
        fresh = [u for u in uptracks if u.info.track_id not in self.subscriptions]
        if not fresh or self._closed:
            return
        pc = self._subscriber or self._create_subscriber()
        for uptrack in fresh:
            transceiver = pc.addTransceiver(hooks.IdleTrack(uptrack.kind), direction="sendonly")
            transceiver.setCodecPreferences(subscriber_preferences(uptrack.codec, uptrack.kind))
            downtrack = DownTrack(uptrack, transceiver.sender, mid="")
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
            with contextlib.suppress(ValueError):
                subscription.downtrack.uptrack.downtracks.remove(subscription.downtrack)
            subscription.transceiver.direction = "inactive"
            changed = True
        if changed and not self._closed:
            await self._negotiate()

    async def accept_subscription_answer(self, answer_sdp: str) -> None:
        if self._subscriber is None or not self._awaiting_answer:
            raise NegotiationError("no subscription offer is waiting for an answer")
        _parse_sdp(answer_sdp, "answer")
        try:
            await self._subscriber.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))
        except Exception as exc:
            raise InvalidSdp(f"answer rejected: {exc}") from exc
        self._awaiting_answer = False
        for subscription in self.subscriptions.values():
            downtrack = subscription.downtrack
            if downtrack.payload_type is None:
                downtrack.bind(hooks.negotiated_codecs(subscription.transceiver))
                if downtrack.payload_type is not None:
                    downtrack.uptrack.downtracks.append(downtrack)
        if self._negotiate_again:
            self._negotiate_again = False
            await self._negotiate()

    def _create_subscriber(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(_server_configuration())
        self._subscriber = pc
        self._watch(pc)
        return pc

    async def _negotiate(self) -> None:
        async with self._negotiation_lock:
            if self._awaiting_answer:
                self._negotiate_again = True
                return
            pc = self._subscriber
            if pc is None or self._closed:
                return
            self._awaiting_answer = True
            await pc.setLocalDescription(await pc.createOffer())
            tracks = []
            for subscription in self.subscriptions.values():
                mid = subscription.transceiver.mid or ""
                subscription.downtrack.mid = mid
                info = subscription.downtrack.uptrack.info
                tracks.append(
                    SubscribedTrack(mid, info.track_id, info.participant_id, info.kind, info.source)
                )
            sdp = pc.localDescription.sdp
        await self._emit(SubscriptionOffer(self.room_id, self.participant_id, sdp, tuple(tracks)))

    # --- ICE --------------------------------------------------------------------

    async def add_ice_candidate(
        self, target: str, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        pc = self._publisher if target == "publisher" else self._subscriber
        if pc is None:
            raise NegotiationError(f"no {target} connection to add a candidate to")
        text = candidate.removeprefix("candidate:")
        try:
            parsed = candidate_from_sdp(text)
        except Exception as exc:
            raise InvalidCandidate(f"cannot parse ICE candidate {candidate[:80]!r}") from exc
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index
        await pc.addIceCandidate(parsed)

    # --- chat data channel ----------------------------------------------------

    def _attach_chat(self, channel: RTCDataChannel) -> None:
        self._chat = channel

        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            if isinstance(message, bytes):
                message = message.decode("utf-8", errors="replace")
            asyncio.ensure_future(self._emit(DataReceived(self.room_id, self.participant_id, message)))

        @channel.on("open")
        def on_open() -> None:
            self._flush_data()

        if channel.readyState == "open":
            self._flush_data()

    async def _deliver_data(self) -> None:
        """Hand incoming messages to signalling one at a time, so a sender's order is kept."""
        while True:
            message = await self._incoming_data.get()
            try:
                await self._emit(DataReceived(self.room_id, self.participant_id, message))
            except Exception:
                logger.exception("handling a data channel message failed")

    def send_data(self, payload: str) -> None:
        """Send a message on the chat channel, or hold it until the channel opens."""
        channel = self._chat
        if channel is not None and channel.readyState == "open":
            channel.send(payload)
        else:
            self._pending_data.append(payload)

    def _flush_data(self) -> None:
        channel = self._chat
        while self._pending_data and channel is not None and channel.readyState == "open":
            channel.send(self._pending_data.popleft())

    # --- lifetime -------------------------------------------------------------

    def _watch(self, pc: RTCPeerConnection) -> None:
        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "failed" and not self._closed:
                await self._emit(MediaConnectionLost(self.room_id, self.participant_id))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._data_task is not None:
            self._data_task.cancel()
        for uptrack in self.uptracks.values():
            uptrack.close()
        for subscription in self.subscriptions.values():
            subscription.downtrack.stop()
        self.subscriptions.clear()
        for pc in (self._publisher, self._subscriber):
            if pc is not None:
                try:
                    await asyncio.wait_for(pc.close(), timeout=5)
                except Exception:
                    logger.warning("closing a peer connection failed", exc_info=True)
