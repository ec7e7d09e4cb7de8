"""A synthetic participant: joins, replays stamped clips, counts what it receives, chats.

Subscribers never decode: every RTP packet goes to a :class:`TrackStats`, which
keeps packets, bytes, loss (RFC 3550, from sequence numbers), interarrival jitter,
the latency read from the publisher's send-time trailer, and when the first
packet and the first keyframe arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from benchmarks.counting import StreamCounter
from huddle_client import HuddleClient, HuddleError, RemoteTrack
from huddle_client.replay import EncodedClip, add_replay_transceiver
from sfu.codecs import keyframe_detector

from .plan import ParticipantPlan
from .stamping import TRAILER_SIZE, StampingReplaySender, now_us, read_stamp
from .stats import Jitter, Samples
from .tokens import TokenSource

CLOCK_RATES = {"audio": 48000, "video": 90000}
JOIN_TIMEOUT = 20.0
CHAT_TAG = "hb"


@dataclass
class Window:
    packets: int = 0
    bytes: int = 0
    highest: int | None = None


class TrackStats:
    """What one subscriber received of one track."""

    def __init__(self, subscriber: str, publisher: str, kind: str, keyframe: Callable[[bytes], bool] | None):
        self.subscriber = subscriber
        self.publisher = publisher
        self.kind = kind
        self.bytes = 0  # media payload bytes, without the stamp trailer
        self.retransmissions = 0
        self.seq = StreamCounter()  # also counts the media packets
        self.first_highest: int | None = None
        self.jitter = Jitter(CLOCK_RATES[kind])
        self.latency = Samples()
        self.measuring = False
        self.first_packet: float | None = None  # wall clock
        self.first_keyframe: float | None = None
        self._media_payload_type: int | None = None
        self._keyframe = keyframe
        self._start: Window | None = None
        self._end: Window | None = None

    @property
    def packets(self) -> int:
        return self.seq.received

    def add(self, packet: RtpPacket) -> None:
        if self._media_payload_type is None:
            self._media_payload_type = packet.payload_type
        elif packet.payload_type != self._media_payload_type:  # RTX: not in the server's packets_out
            self.retransmissions += 1
            return
        arrived_us = now_us()
        now = arrived_us / 1e6
        payload = packet.payload
        sent_us = read_stamp(payload)
        self.bytes += len(payload) - (TRAILER_SIZE if sent_us is not None else 0)
        self.seq.add(packet.sequence_number, packet.marker)
        self.jitter.add(now, packet.timestamp)
        if self.first_packet is None:
            self.first_packet = now
            self.first_highest = self.seq.highest
        if self.first_keyframe is None and (self._keyframe is None or self._keyframe(payload)):
            self.first_keyframe = now
        if self.measuring and sent_us is not None:
            self.latency.add((arrived_us - sent_us) / 1000)

    def _now(self) -> Window:
        return Window(self.packets, self.bytes, self.seq.highest if self.packets else None)

    def start_window(self) -> None:
        self._start = self._now()
        self.latency = Samples()
        self.measuring = True

    def end_window(self) -> None:
        self._end = self._now()
        self.measuring = False

    def in_window(self) -> tuple[int, int, int]:
        """(packets, bytes, expected) since the window started, up to its end if it has ended."""
        start = self._start or Window()
        end = self._end or self._now()
        if end.highest is None:
            return 0, 0, 0
        base = start.highest if start.highest is not None else (self.first_highest or 0) - 1
        return end.packets - start.packets, end.bytes - start.bytes, end.highest - base

    def result(self) -> dict[str, Any]:
        packets, size, expected = self.in_window()
        return {
            "subscriber": self.subscriber,
            "publisher": self.publisher,
            "kind": self.kind,
            "packets": packets,
            "bytes": size,
            "expected": expected,
            "retransmissions": self.retransmissions,
            "jitter_ms": round(self.jitter.ms, 3),
            "latency": self.latency.to_json(),
            "first_packet": self.first_packet,
            "first_keyframe": self.first_keyframe if self.kind == "video" else None,
        }


class BenchClient(HuddleClient):
    """A HuddleClient that also tells ``on_chat`` when each chat payload arrived."""

    on_chat: Callable[[str | bytes], None] | None = None

    def _on_chat_message(self, raw: str | bytes) -> None:
        if self.on_chat is not None:
            self.on_chat(raw)
        super()._on_chat_message(raw)


@dataclass
class ChatFigures:
    sent: int = 0
    acked: int = 0
    delivered: set[tuple[str, int]] = field(default_factory=set)
    latency: Samples = field(default_factory=Samples)


@dataclass
class Media:
    """What publishers send: clips, the codec, and the test's optional held delay."""

    video: EncodedClip | None
    audio: EncodedClip | None
    codec: str
    delay: float = 0.0


class SyntheticParticipant:
    def __init__(
        self,
        plan: ParticipantPlan,
        url: str,
        tokens: TokenSource,
        media: Media,
        run_tag: str,
        seed: int,
        errors: Counter[str],
        host_addresses: list[str] | None,
    ) -> None:
        self.plan = plan
        self.url = url
        self.tokens = tokens
        self.media = media
        self.run_tag = run_tag
        self.errors = errors
        self.host_addresses = host_addresses
        self.tracks: dict[str, TrackStats] = {}
        self.chat = ChatFigures()
        self.join_started: float | None = None
        self.join_s: float | None = None
        self.senders: list[StampingReplaySender] = []
        self.client: BenchClient | None = None
        self._rng = random.Random(f"{seed}/{plan.name}")
        self._chatting: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    # --- joining and publishing --------------------------------------------------

    async def join(self) -> None:
        self.join_started = time.time()
        plan = self.plan
        token = await self.tokens.token(plan.room, plan.name, plan.name, plan.publish)
        client = BenchClient(
            self.url,
            name=plan.name,
            identity=plan.name,
            host_addresses=self.host_addresses,
            packet_sink=self._on_packet,
            timeout=JOIN_TIMEOUT,
            token=token,
        )
        client.on_chat = self._on_chat
        self.client = client
        await client.join(plan.room)
        if plan.publish:
            await self._publish(client)
        self.join_s = time.time() - self.join_started

    async def _publish(self, client: BenchClient) -> None:
        clips = [(c, s) for c, s in ((self.media.video, "camera"), (self.media.audio, "microphone")) if c]
        if not clips:
            return
        pc = client.publisher_connection
        transceivers = [add_replay_transceiver(pc, clip) for clip, _ in clips]
        await client.publish_transceivers(
            {t: source for t, (_, source) in zip(transceivers, clips, strict=True)}
        )
        for transceiver, (clip, _) in zip(transceivers, clips, strict=True):
            sender = StampingReplaySender(transceiver, clip, self.media.delay)
            sender.start()
            self.senders.append(sender)

    def _on_packet(self, remote: RemoteTrack, packet: RtpPacket) -> None:
        stats = self.tracks.get(remote.track_id)
        if stats is None:
            assert self.client is not None
            owner = self.client.participants.get(remote.participant_id)
            keyframe = None
            if remote.kind == "video":
                keyframe = keyframe_detector(
                    RTCRtpCodecParameters(f"video/{self.media.codec}", CLOCK_RATES["video"])
                )
            publisher = owner.identity if owner else remote.participant_id
            stats = self.tracks[remote.track_id] = TrackStats(
                self.plan.name, publisher, remote.kind, keyframe
            )
        stats.add(packet)

    def ready(self) -> bool:
        """Receiving every expected track, and sending on every published one."""
        receiving = sum(1 for t in self.tracks.values() if t.packets)
        return receiving >= self.plan.expected_tracks and all(s.packets_sent for s in self.senders)

    # --- chat --------------------------------------------------------------------

    def start_chat(self) -> None:
        if self.plan.chat_rate > 0 and self.client is not None:
            self._chatting = asyncio.create_task(self._chat_loop())

    async def stop_chat(self) -> None:
        if self._chatting is not None:
            self._chatting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._chatting

    async def _chat_loop(self) -> None:
        """Messages at ``chat_rate`` on average, exponential gaps from the seeded generator."""
        sequence = 0
        while True:
            await asyncio.sleep(self._rng.expovariate(self.plan.chat_rate))
            text = json.dumps({CHAT_TAG: self.run_tag, "s": self.plan.name, "n": sequence, "t": now_us()})
            sequence += 1
            task = asyncio.create_task(self._send_chat(text))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _send_chat(self, text: str) -> None:
        assert self.client is not None
        self.chat.sent += 1
        try:
            await self.client.send_chat(text)
            self.chat.acked += 1
        except HuddleError as exc:
            self.errors[f"chat_{exc.code}"] += 1
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            self.errors[f"chat_{type(exc).__name__}"] += 1

    async def settle_chat(self, timeout: float) -> None:
        """Wait (bounded) for the acks of messages already sent."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)

    def _on_chat(self, raw: str | bytes) -> None:
        arrived = now_us()
        try:
            message = json.loads(raw)
            if message.get("type") != "chat":
                return
            body = json.loads(message["message"]["text"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        if not isinstance(body, dict) or body.get(CHAT_TAG) != self.run_tag:
            return
        key = (str(body["s"]), int(body["n"]))
        if key not in self.chat.delivered:
            self.chat.delivered.add(key)
            self.chat.latency.add((arrived - int(body["t"])) / 1000)

    # --- windows, results, leaving -------------------------------------------------

    def result(self) -> dict[str, Any]:
        return {
            "name": self.plan.name,
            "room": self.plan.room,
            "publish": self.plan.publish,
            "expected_tracks": self.plan.expected_tracks,
            "joined": self.join_s is not None,
            "join_started": self.join_started,
            "join_s": self.join_s,
            "tracks": [t.result() for t in self.tracks.values()],
            "chat": {
                "sent": self.chat.sent,
                "acked": self.chat.acked,
                "delivered": len(self.chat.delivered),
                "latency": self.chat.latency.to_json(),
            },
            "replayed": sum(s.packets_sent for s in self.senders),
        }

    async def leave(self) -> None:
        await self.stop_chat()
        for task in list(self._pending):
            task.cancel()
        for sender in self.senders:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sender.stop(), 5)
        if self.client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.leave(), 15)
