"""Webhooks: signed events in order, and a bad receiver never slows a room down."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from huddle_client import HuddleClient
from huddle_client.synthetic import ColourVideoTrack, ToneAudioTrack
from signalling.cli import main as huddle_main
from signalling.config import Config
from tests.conftest import LOOPBACK, RunningServer, ServerProcess, free_port, start_server, wait_until


@dataclass
class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records what it is sent."""

    url: str
    requests: list[tuple[float, dict[str, str], bytes]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def events(self) -> list[dict]:
        return [json.loads(body) for _, _, body in self.requests]


@asynccontextmanager
async def receiver(behaviour: str = "ok") -> AsyncIterator[Receiver]:
    """``ok`` answers 204, ``fail`` answers 500, ``hang`` answers only when released (or after 30 s)."""
    port = free_port()
    got = Receiver(f"http://127.0.0.1:{port}/hook")

    async def hook(request: web.Request) -> web.Response:
        got.requests.append((time.monotonic(), dict(request.headers), await request.read()))
        if behaviour == "hang":
            with suppress(TimeoutError):
                await asyncio.wait_for(got.release.wait(), 30)
        return web.Response(status=500 if behaviour == "fail" else 204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield got
    finally:
        got.release.set()
        await asyncio.wait_for(runner.cleanup(), 10)


@asynccontextmanager
async def huddle(tmp_path: Path, urls: list[str]) -> AsyncIterator[RunningServer]:
    config = Config(
        port=free_port(), data_dir=tmp_path / f"data-{free_port()}", empty_room_timeout=0.3, webhook_urls=urls
    )
    running, runner = await start_server(config)
    try:
        yield running
    finally:
        await asyncio.wait_for(runner.cleanup(), 20)


def client(server: RunningServer, name: str) -> HuddleClient:
    return HuddleClient(server.url, name=name, host_addresses=LOOPBACK)


async def test_events_arrive_in_order_and_signed(tmp_path):
    async with receiver() as hook, huddle(tmp_path, [hook.url]) as server:
        alice = client(server, "Alice")
        try:
            await alice.join("hooks")
            alice_id = alice.participant_id
            await alice.leave()
        finally:
            await alice.close()
        await wait_until(lambda: len(hook.requests) >= 4, timeout=5)
        key, secret = server.config.api_keys.first()

    names = [e["event"] for e in hook.events()]
    assert names == ["room_started", "participant_joined", "participant_left", "room_finished"]
    assert {e["room"] for e in hook.events()} == {"hooks"}
    joined, left = hook.events()[1], hook.events()[2]
    assert joined["participant"]["participant_id"] == left["participant"]["participant_id"] == alice_id
    assert left["reason"] == "left"
    assert len({e["id"] for e in hook.events()}) == 4
    for _, headers, body in hook.requests:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Huddle-Signature"], expected)
        assert headers["X-Huddle-Key"] == key
        assert abs(int(headers["X-Huddle-Timestamp"]) - time.time()) < 30
        assert headers["Content-Type"] == "application/json"
        assert abs(json.loads(body)["created_at"] - time.time()) < 30
    # A body changed in transit no longer matches its signature.
    _, headers, body = hook.requests[0]
    forged = body.replace(b"hooks", b"other")
    assert (
        headers["X-Huddle-Signature"] != "sha256=" + hmac.new(secret.encode(), forged, "sha256").hexdigest()
    )


async def test_track_events_follow_publish_unpublish_and_leave(tmp_path):
    async with receiver() as hook, huddle(tmp_path, [hook.url]) as server:
        alice = client(server, "Alice")
        try:
            await alice.join("tracks")
            await alice.publish(
                [(ColourVideoTrack((255, 0, 0)), "camera"), (ToneAudioTrack(440.0), "microphone")]
            )
            await wait_until(lambda: len(hook.requests) >= 4, timeout=5)
            by_source = {e["track"]["source"]: e["track"]["track_id"] for e in hook.events()[2:4]}
            await alice.unpublish(by_source["camera"])
            await alice.leave()
        finally:
            await alice.close()
        await wait_until(lambda: len(hook.requests) >= 8, timeout=5)

    events = hook.events()
    assert [e["event"] for e in events] == [
        "room_started",
        "participant_joined",
        "track_published",
        "track_published",
        "track_unpublished",
        "track_unpublished",
        "participant_left",
        "room_finished",
    ]
    tracks = [e for e in events if e["event"].startswith("track_")]
    assert {e["track"]["source"] for e in tracks[:2]} == {"camera", "microphone"}
    assert all(e["participant"]["name"] == "Alice" and e["room"] == "tracks" for e in tracks)
    gone = [(e["track"]["track_id"], e["reason"]) for e in tracks[2:]]
    assert gone == [(by_source["camera"], "unpublished"), (by_source["microphone"], "left")]


async def _join_times(server: RunningServer, count: int) -> list[float]:
    times = []
    for n in range(count):
        person = client(server, f"P{n}")
        try:
            started = time.monotonic()
            await person.join(f"timing-{n}")
            times.append(time.monotonic() - started)
        finally:
            await person.close()
    return times


async def test_a_hanging_or_failing_receiver_does_not_delay_joins(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="signalling.webhooks")
    async with huddle(tmp_path, []) as server:
        await _join_times(server, 1)  # warm up (imports, codecs)
        baseline = await _join_times(server, 3)
    async with (
        receiver("fail") as failing,
        receiver("hang") as hanging,
        huddle(tmp_path, [failing.url, hanging.url]) as server,
    ):
        with_hooks = await _join_times(server, 3)
        # the failing one: three attempts with a growing pause, then dropped with a log line
        await wait_until(lambda: len(failing.requests) >= 3, timeout=5)
        first = [t for t, _, body in failing.requests if json.loads(body)["event"] == "room_started"][:3]
        assert len(first) == 3
        assert first[1] - first[0] >= 0.45 and first[2] - first[1] >= 0.9
        await wait_until(lambda: "dropped after 3 attempts (HTTP 500)" in caplog.text, timeout=2)
        await wait_until(lambda: len(hanging.requests) >= 1, timeout=5)
        secret = server.config.api_keys.first()[1]
    print(
        f"join time: {statistics.median(baseline):.3f} s without webhooks, "
        f"{statistics.median(with_hooks):.3f} s with a hanging and a failing receiver"
    )
    assert statistics.median(with_hooks) < statistics.median(baseline) + 0.5
    assert max(with_hooks) < 2.0, "a webhook POST (2 s timeout) must never be on the join's path"
    assert secret not in caplog.text


def test_webhook_url_option_is_checked():
    with pytest.raises(SystemExit) as refused:
        huddle_main(["serve", "--webhook-url", "ftp://example.com/x"])
    assert refused.value.code == 2


async def test_huddle_serve_sends_webhooks_to_its_urls(tmp_path):
    async with receiver() as hook:
        process = ServerProcess(
            tmp_path / "data", extra_args=["--webhook-url", hook.url, "--empty-room-timeout", "0.2"]
        )
        await process.start()
        try:
            person = HuddleClient(process.url, name="Via CLI", host_addresses=LOOPBACK)
            try:
                await person.join("cli")
            finally:
                await person.close()
            await wait_until(lambda: len(hook.requests) >= 4, timeout=10)
        finally:
            await process.stop()
    assert [e["event"] for e in hook.events()][:2] == ["room_started", "participant_joined"]
    assert hook.events()[3]["event"] == "room_finished"
