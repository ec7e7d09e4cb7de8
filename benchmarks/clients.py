"""A client worker process: some benchmark participants, driven over stdin/stdout.

The benchmark keeps its participants out of the server's process, and spreads
them over a few worker processes so that no single client event loop saturates
a core (which would show up as loss and bursty pacing, blamed on the server).

    python -m benchmarks.clients '<WorkerSpec as JSON>'

The worker joins its participants, publishes replayed media for those that
publish, and prints ``{"event": "ready"}`` once every subscriber receives all
the tracks it expects. Then, for each line ``snapshot`` on stdin, it prints its
packet counts as one JSON line; ``stop`` (or end of input) makes it leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtp import RtpPacket

import sfu.network
from huddle_client import HuddleClient
from huddle_client.replay import EncodedClip, ReplaySender, add_replay_transceiver
from sfu import aiortc_hooks as hooks

from .clips import benchmark_clips
from .counting import PacketCounter

LOOPBACK = ["127.0.0.1"]
JOIN_CONCURRENCY = 5
READY_TIMEOUT = 60.0
READY_POLL = 0.1
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=15)

logger = logging.getLogger(__name__)


@dataclass
class ParticipantSpec:
    name: str
    publish: bool
    expected_tracks: int  # tracks it must receive before the worker is ready


@dataclass
class WorkerSpec:
    server: str  # "huddle" or "relay"
    url: str
    room: str
    participants: list[ParticipantSpec] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        data = json.loads(text)
        participants = [ParticipantSpec(**p) for p in data.pop("participants")]
        return cls(participants=participants, **data)


@dataclass
class Member:
    """A joined participant: what it replays, and how to make it leave."""

    name: str
    senders: list[ReplaySender]
    leave: Callable[[], Awaitable[None]]


Clips = tuple[EncodedClip, EncodedClip]


def _start_replay(transceivers: list, clips: Clips) -> list[ReplaySender]:
    senders = [ReplaySender(t, clip) for t, clip in zip(transceivers, clips, strict=True)]
    for sender in senders:
        sender.start()
    return senders


async def _stop_all(senders: list[ReplaySender], pcs: list[RTCPeerConnection]) -> None:
    for sender in senders:
        await asyncio.wait_for(sender.stop(), 5)
    for pc in pcs:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pc.close(), 5)


# --- Huddle ---------------------------------------------------------------------


async def join_huddle(spec: WorkerSpec, who: ParticipantSpec, clips: Clips, counter: PacketCounter) -> Member:
    """A HuddleClient that counts what it receives and, if it publishes, replays the clips."""

    def sink(remote: Any, packet: RtpPacket) -> None:
        counter.add(f"{who.name}/{remote.kind}/{remote.track_id}", packet)

    client = HuddleClient(spec.url, name=who.name, host_addresses=LOOPBACK, packet_sink=sink, timeout=20)
    senders: list[ReplaySender] = []

    async def leave() -> None:
        await _stop_all(senders, [])
        await asyncio.wait_for(client.close(), 15)

    try:
        await client.join(spec.room)
        if who.publish:
            senders += await client.publish_clips(list(zip(clips, ["camera", "microphone"], strict=True)))
    except BaseException:
        await leave()
        raise
    return Member(who.name, senders, leave)


# --- aiortc MediaRelay baseline ---------------------------------------------------


def _peer_connection() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


async def _exchange(pc: RTCPeerConnection, http: aiohttp.ClientSession, url: str) -> None:
    await pc.setLocalDescription(await pc.createOffer())
    offer = {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
    async with http.post(url, json=offer, timeout=HTTP_TIMEOUT) as response:
        response.raise_for_status()
        answer = await response.json()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))


def _counting_handler(counter: PacketCounter, label: str) -> hooks.RtpHandler:
    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        counter.add(label, packet)

    return handle


async def join_relay(
    spec: WorkerSpec, who: ParticipantSpec, clips: Clips, counter: PacketCounter, http: aiohttp.ClientSession
) -> Member:
    """A plain aiortc peer: a replaying publisher, or a recvonly subscriber that counts packets."""
    pc = _peer_connection()
    senders: list[ReplaySender] = []

    async def leave() -> None:
        await _stop_all(senders, [pc])

    try:
        if who.publish:
            transceivers = [add_replay_transceiver(pc, clip) for clip in clips]
            await _exchange(pc, http, spec.url + "/publish")
            senders += _start_replay(transceivers, clips)
        else:
            for kind in ("video", "audio"):
                transceiver = pc.addTransceiver(kind, direction="recvonly")
                label = f"{who.name}/{kind}/{kind}"
                hooks.divert_receiver(transceiver.receiver, _counting_handler(counter, label))
            await _exchange(pc, http, spec.url + "/subscribe")
    except BaseException:
        await leave()
        raise
    return Member(who.name, senders, leave)


# --- the worker -----------------------------------------------------------------


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _ready(spec: WorkerSpec, members: list[Member], counter: PacketCounter) -> bool:
    receiving: dict[str, int] = {}
    for label in counter.labels_receiving():
        name = label.split("/", 1)[0]
        receiving[name] = receiving.get(name, 0) + 1
    tracks_ok = all(receiving.get(p.name, 0) >= p.expected_tracks for p in spec.participants)
    sending_ok = all(s.packets_sent > 0 for m in members for s in m.senders)
    return tracks_ok and sending_ok


async def _wait_ready(spec: WorkerSpec, members: list[Member], counter: PacketCounter) -> None:
    for _ in range(int(READY_TIMEOUT / READY_POLL)):
        if _ready(spec, members, counter):
            return
        await asyncio.sleep(READY_POLL)
    raise TimeoutError(f"not every track flowed within {READY_TIMEOUT} s")


def _report(members: list[Member], counter: PacketCounter) -> dict[str, Any]:
    senders = [s for m in members for s in m.senders]
    return {
        "streams": {k: [s.highest, s.received, s.frames] for k, s in counter.snapshot().items()},
        "replayed": sum(s.packets_sent for s in senders),
        "replay_retransmissions": sum(s.retransmissions for s in senders),
        "replay_keyframe_requests": sum(s.keyframe_requests for s in senders),
    }


async def _serve_commands(members: list[Member], counter: PacketCounter) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "snapshot":
            _emit(_report(members, counter))
        elif line == "stop":
            return


async def run_worker(spec: WorkerSpec) -> None:
    sfu.network.use_host_addresses(LOOPBACK)
    clips = benchmark_clips()
    counter = PacketCounter()
    members: list[Member] = []
    limit = asyncio.Semaphore(JOIN_CONCURRENCY)
    async with aiohttp.ClientSession() as http:

        async def join(who: ParticipantSpec) -> None:
            async with limit:
                if spec.server == "huddle":
                    members.append(await join_huddle(spec, who, clips, counter))
                else:
                    members.append(await join_relay(spec, who, clips, counter, http))

        try:
            await asyncio.gather(*(join(p) for p in spec.participants))
            await _wait_ready(spec, members, counter)
            _emit({"event": "ready"})
            await _serve_commands(members, counter)
        finally:
            await asyncio.gather(*(m.leave() for m in members), return_exceptions=True)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    spec = WorkerSpec.from_json(sys.argv[1])
    try:
        asyncio.run(run_worker(spec))
    except Exception as exc:
        logger.exception("client worker failed")
        _emit({"event": "error", "message": f"{type(exc).__name__}: {exc}"})
        sys.exit(1)


if __name__ == "__main__":
    main()
