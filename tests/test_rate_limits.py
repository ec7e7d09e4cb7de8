"""Flood: one client over its signalling and chat limits is refused, then cut off; the others'
chat and video go on as before. Also the rooms-per-server limit of ``huddle serve``.

The server runs as its own ``huddle serve`` process, so what is measured is its
work, not the flooding client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from huddle_client import HuddleClient, HuddleError
from huddle_client.replay import EncodedClip, encode_vp8_clip
from signalling.chat_store import ChatStore
from signalling.config import Config
from signalling.limits import (
    CHAT_ERROR_RATE,
    CHAT_RATE,
    KeyedBuckets,
    Rate,
    SignallingLimiter,
    TokenBucket,
    peek_field,
)
from tests.conftest import LOOPBACK, ServerProcess, wait_until


@functools.cache
def video_clip() -> EncodedClip:
    return encode_vp8_clip(seconds=1.0, width=320, height=240, fps=15, bitrate=400_000)


@dataclass
class PacketLog:
    """A ``packet_sink`` recording (arrival time, SSRC, sequence number) of every video packet."""

    arrivals: list[tuple[float, int, int]] = field(default_factory=list)

    def __call__(self, remote: Any, packet: Any) -> None:
        if remote.kind == "video":
            self.arrivals.append((time.monotonic(), packet.ssrc, packet.sequence_number))

    def count(self, start: float, end: float) -> int:
        return sum(1 for t, _, _ in self.arrivals if start <= t < end)

    def longest_silence(self, start: float, end: float) -> float:
        times = [start] + [t for t, _, _ in self.arrivals if start <= t < end] + [end]
        return max(b - a for a, b in zip(times, times[1:], strict=False))

    def missing(self) -> int:
        """Sequence numbers never received on the main stream (no NACKs: the sink bypasses the receiver)."""
        main = Counter(ssrc for _, ssrc, _ in self.arrivals).most_common(1)[0][0]
        seqs = [seq for _, ssrc, seq in self.arrivals if ssrc == main]
        unwrapped, total = [seqs[0]], seqs[0]
        for previous, seq in zip(seqs, seqs[1:], strict=False):
            step = (seq - previous) % 65536
            total += step if step < 32768 else step - 65536
            unwrapped.append(total)
        return (max(unwrapped) - min(unwrapped) + 1) - len(set(unwrapped))


class LiveCall:
    """A publisher replaying a VP8 clip and a subscriber logging every packet it receives."""

    def __init__(self, url: str, room: str) -> None:
        self.room = room
        self.log = PacketLog()
        self.publisher = HuddleClient(url, "Publisher", host_addresses=LOOPBACK)
        self.subscriber = HuddleClient(url, "Subscriber", host_addresses=LOOPBACK, packet_sink=self.log)

    async def start(self) -> None:
        await self.publisher.join(self.room)
        await self.subscriber.join(self.room)
        await self.publisher.publish_clips([(video_clip(), "camera")])
        await self.subscriber.wait_for_tracks(1)
        await wait_until(lambda: len(self.log.arrivals) > 20, timeout=10)

    async def close(self) -> None:
        await self.publisher.close()
        await self.subscriber.close()


def rate_limited(client: HuddleClient) -> tuple[list[dict[str, Any]], int]:
    """The ``rate_limited`` errors on the WebSocket, and how many came on the chat channel."""
    on_ws = [e for e in client.events if e["type"] == "error" and e["code"] == "rate_limited"]
    total = sum(1 for e in client.errors if e.code == "rate_limited")
    return on_ws, total - len(on_ws)


async def flood_pings(client: HuddleClient, per_second: int, seconds: float, sent: list[int]) -> None:
    """Send ``ping``s at ``per_second`` in 10 ms batches until ``seconds`` pass or the socket closes."""
    end = time.monotonic() + seconds
    with contextlib.suppress(ConnectionError, RuntimeError):
        while time.monotonic() < end and not client._ws.closed:
            for _ in range(per_second // 100):
                await client.send_raw(json.dumps({"type": "ping", "request_id": f"f{sent[0]}"}))
                sent[0] += 1
            await asyncio.sleep(0.01)


async def flood_chat(client: HuddleClient, per_second: int, seconds: float) -> int:
    sent = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(per_second // 100):
            client.send_chat_raw(
                json.dumps({"type": "chat", "client_id": f"s{sent}", "text": f"spam {sent}"})
            )
            sent += 1
        await asyncio.sleep(0.01)
    return sent


async def test_a_flooder_is_limited_and_the_others_chat_and_video_go_on(tmp_path: Path):
    server = ServerProcess(tmp_path / "data")
    await server.start()
    call = LiveCall(server.url, "flood")
    flooder = HuddleClient(server.url, "Flooder", host_addresses=LOOPBACK)
    speaker = HuddleClient(server.url, "Speaker", host_addresses=LOOPBACK)
    listener = HuddleClient(server.url, "Listener", host_addresses=LOOPBACK)
    try:
        await call.start()
        for person in (flooder, speaker, listener):
            await person.join("flood")
        baseline_start = time.monotonic()
        await asyncio.sleep(3.0)

        # 3 s of 2000 chat messages/s and, for 2 s, 2000 pings/s (four times the disconnect level)
        flood_start = time.monotonic()
        pings = [0]
        ping_flood = asyncio.create_task(flood_pings(flooder, 2000, 2.0, pings))
        chat_flood = asyncio.create_task(flood_chat(flooder, 2000, 3.0))
        delays = []
        for i in range(20):
            started = time.monotonic()
            await speaker.send_chat(f"during {i}")
            delays.append(time.monotonic() - started)
            await asyncio.sleep(max(0.0, flood_start + 0.15 * (i + 1) - time.monotonic()))
        await ping_flood
        chat_sent = await chat_flood
        flood_end = time.monotonic()
        assert not flooder._ws.closed, "2 s over the limit is not yet a flood worth a disconnect"

        wanted = [f"during {i}" for i in range(20)]
        await wait_until(
            lambda: (
                [m["text"] for m in listener.chat_messages if m["identity"] == speaker.identity] == wanted
            ),
            timeout=10,
        )
        assert max(delays) < 1.0, f"an innocent message took {max(delays):.2f} s to be acknowledged"

        # the chat channel's refusals trail the flood (thousands of messages queued on it)
        await wait_until(lambda: rate_limited(flooder)[1] >= 1, timeout=10)
        ws_limited, chat_limited = rate_limited(flooder)
        assert ws_limited and chat_limited >= 1
        assert {e["request_id"] for e in ws_limited} <= {f"f{n}" for n in range(pings[0])}
        pongs = sum(1 for e in flooder.events if e["type"] == "pong")
        assert pongs + len(ws_limited) <= pings[0] and pongs < pings[0] / 2, (pongs, pings[0])

        seconds = flood_end - flood_start
        baseline = call.log.count(baseline_start, baseline_start + seconds)
        during = call.log.count(flood_start, flood_end)
        assert baseline > 50
        assert during >= 0.9 * baseline, f"video packets: {during} in the flood vs {baseline} before"
        assert call.log.longest_silence(flood_start, flood_end) < 0.5
        print(f"chat sent {chat_sent}, pings {pings[0]}, pongs {pongs}, ws refusals {len(ws_limited)}")
        print(
            f"video {baseline} packets before, {during} during ({seconds:.1f} s); ack max {max(delays):.3f} s"
        )

        # keep flooding the socket: cut off within the 3 s flood window (plus slack)
        cut_started = time.monotonic()
        await flood_pings(flooder, 2000, 8.0, pings)
        await wait_until(lambda: flooder._ws.closed, timeout=5)
        assert time.monotonic() - cut_started < 6.0
        assert flooder._ws.close_code == 4000
        await wait_until(lambda: flooder.participant_id not in listener.participants, timeout=5)
        assert call.log.missing() == 0, "no video packet was lost"
    finally:
        for person in (flooder, speaker, listener):
            await person.close()
        await call.close()
        await server.stop()

    async with ChatStore(Config(data_dir=server.data_dir).chat_db_path) as store:
        stored = await store.recent("flood", 100_000)
    spam = [m.text for m in stored if m.identity == flooder.identity]
    most = CHAT_RATE.burst + CHAT_RATE.per_second * (seconds + 1)
    assert 0 < len(spam) <= most, f"{len(spam)} of {chat_sent} flood messages stored (at most {most})"
    assert [m.text for m in stored if m.identity == speaker.identity] == wanted


async def test_chat_over_the_limit_is_refused_per_message(server, clients):
    alice = clients("Alice")
    await alice.join("burst")
    burst = int(CHAT_RATE.burst)
    # no more refusals than the error replies a sender gets at once, so each one is answered
    extra = int(CHAT_ERROR_RATE.burst)
    results = await asyncio.gather(
        *(alice.send_chat(f"m{i}", client_id=f"c{i}") for i in range(burst + extra)), return_exceptions=True
    )
    refused = [i for i, r in enumerate(results) if isinstance(r, HuddleError)]
    assert all(results[i].code == "rate_limited" for i in refused)
    assert all(isinstance(r, dict) for i, r in enumerate(results) if i not in refused)
    assert refused and min(refused) >= burst, f"the burst passes, not all that follows: {refused}"
    async with ChatStore(server.config.chat_db_path) as store:
        stored = await store.recent("burst", 1000)
    assert {m.client_id for m in stored} == {f"c{i}" for i in range(len(results)) if i not in refused}


async def test_max_rooms(tmp_path: Path):
    server = ServerProcess(tmp_path / "data", extra_args=["--max-rooms", "1"])
    await server.start()
    try:
        async with HuddleClient(server.url, "One", host_addresses=LOOPBACK) as one:
            await one.join("first")
            async with HuddleClient(server.url, "Two", host_addresses=LOOPBACK) as two:
                with pytest.raises(HuddleError) as refused:
                    await two.join("second")
            assert refused.value.code == "too_many_rooms"
            async with HuddleClient(server.url, "Three", host_addresses=LOOPBACK) as three:
                await three.join("first")
    finally:
        await server.stop()


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_bursts_then_refills_at_its_rate():
    clock = ManualClock()
    bucket = TokenBucket(Rate(per_second=10, burst=30), clock)
    assert sum(bucket.take() for _ in range(100)) == 30
    clock.now += 0.5
    assert sum(bucket.take() for _ in range(100)) == 5
    clock.now += 60
    assert bucket.full and sum(bucket.take() for _ in range(100)) == 30


def test_signalling_limiter_calls_it_a_flood_after_three_seconds_far_over_the_rate():
    clock = ManualClock()

    def send(limiter: SignallingLimiter, per_second: int, seconds: float) -> float | None:
        """Send in 10 ms batches; when the limiter first says flood, seconds from the start."""
        start = clock.now
        for tick in range(int(seconds * 100)):
            clock.now = start + tick / 100
            for _ in range(per_second // 100):
                limiter.allow()
            if limiter.flooding:
                return clock.now - start
        return None

    rate = Rate(per_second=50, burst=200)
    assert send(SignallingLimiter(rate, clock), 2000, 2.5) is None, "2.5 s at 40x: refused, not cut off"
    assert 3.0 <= send(SignallingLimiter(rate, clock), 2000, 10) <= 3.5
    assert 3.0 <= send(SignallingLimiter(rate, clock), 800, 10) <= 5.0
    assert send(SignallingLimiter(rate, clock), 400, 20) is None, "8x the rate for 20 s: refused, not cut off"
    pausing = SignallingLimiter(rate, clock)
    for _ in range(4):  # 2 s at 40x, then a 2 s pause: never 3 s without a pause
        assert send(pausing, 2000, 2.0) is None
        clock.now += 2.0


def test_keyed_buckets_forget_only_full_buckets():
    clock = ManualClock()
    buckets = KeyedBuckets(Rate(per_second=1, burst=2), clock)
    assert buckets.take("a") and buckets.take("a") and not buckets.take("a")
    for n in range(100):
        buckets.take(f"p{n}")
    clock.now += KeyedBuckets.PRUNE_EVERY + 1
    assert buckets.take("a") and len(buckets) == 1, "every bucket had refilled: all but the one in use pruned"


def test_peek_field_takes_only_a_well_formed_id():
    assert peek_field('{"type": "ping", "request_id": "r-1"}', "request_id") == "r-1"
    assert peek_field('{"request_id": "bad id\\n"}', "request_id") is None
    assert peek_field('{"request_id": 5}', "request_id") is None
    assert peek_field("[" * 3000, "request_id") is None
    assert peek_field(b"\xff", "request_id") is None
    assert peek_field('{"request_id": "x"}' + " " * 5000, "request_id") is None
