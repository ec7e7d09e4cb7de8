"""Leaving, politely or not: the others are told, tracks go by renegotiation, rooms expire."""

from __future__ import annotations

import asyncio
import time

import pytest

from huddle_client import HuddleClient
from signalling.config import Config
from tests.conftest import LOOPBACK, free_port, start_server, wait_until
from tests.media_checks import media_for


@pytest.mark.parametrize("how", ["leave", "abort"])
async def test_departure_is_announced_and_tracks_renegotiated_away(server, clients, how):
    leaver, stayer, other = clients("Leaver"), clients("Stayer"), clients("Other")
    for person in (leaver, stayer, other):
        await person.join("exit")
    await leaver.publish(media_for(0))
    await other.publish(media_for(1)[:1])
    await stayer.wait_for_tracks(3)
    offers_before = sum(1 for e in stayer.events if e["type"] == "subscribe_offer")

    leaver_id = leaver.participant_id
    await (leaver.leave() if how == "leave" else leaver.abort())

    left = await stayer.wait_for_event("participant_left")
    assert left["participant_id"] == leaver_id
    assert left["reason"] == ("left" if how == "leave" else "disconnected")
    await wait_until(lambda: not [t for t in stayer.live_tracks() if t.participant_id == leaver_id])
    offers = [e for e in stayer.events if e["type"] == "subscribe_offer"]
    assert len(offers) > offers_before, "tracks must go by a new subscription offer"
    assert leaver_id not in {t["participant_id"] for t in offers[-1]["tracks"]}
    # the remaining publisher's track is still there for the stayer
    assert [t.participant_id for t in stayer.live_tracks()] == [other.participant_id]
    assert leaver_id not in stayer.participants


async def test_empty_room_goes_away_after_grace_period(server, clients):
    a, b = clients("A"), clients("B")
    await a.join("brief")
    await b.join("brief")
    await a.publish(media_for(0)[:1])
    await b.wait_for_tracks(1)
    assert "brief" in server.conference.rooms
    assert "brief" in server.conference.media.room_ids()

    await a.leave()
    await b.abort()
    await wait_until(lambda: "brief" not in server.conference.media.room_ids())
    assert "brief" in server.conference.rooms, "an empty room lingers for its grace period"
    await wait_until(lambda: "brief" not in server.conference.rooms, timeout=3)


async def test_rejoin_within_grace_period_keeps_the_room(server, clients):
    a = clients("A")
    await a.join("again")
    await a.leave()
    b = clients("B")
    await b.join("again")
    await asyncio.sleep(server.config.empty_room_timeout + 0.3)
    assert "again" in server.conference.rooms


async def test_a_reconnect_with_the_same_identity_replaces_the_old_connection(server, clients):
    stayer = clients("Stayer")
    first = clients("Mover", identity="mover-1")
    await stayer.join("moves")
    await first.join("moves")
    await first.publish(media_for(0)[:1])
    await stayer.wait_for_tracks(1)
    old_id = first.participant_id

    second = clients("Mover", identity="mover-1")  # e.g. the same tab after a network change
    await second.join("moves")
    left = await stayer.wait_for_event("participant_left", lambda e: e["participant_id"] == old_id)
    assert left["reason"] == "replaced"
    await wait_until(lambda: first._ws is not None and first._ws.closed)
    peers = server.conference.rooms["moves"].peers
    assert sorted(p.identity for p in peers.values()) == sorted([stayer.identity, "mover-1"])
    assert second.participant_id in peers and old_id not in peers
    await wait_until(lambda: not stayer.live_tracks())


async def test_stopping_the_server_closes_sessions_at_once(tmp_path):
    config = Config(port=free_port(), data_dir=tmp_path)
    running, runner = await start_server(config)
    client = HuddleClient(running.url, "Stayer", host_addresses=LOOPBACK)
    try:
        await client.join("shutdown")
        started = time.monotonic()
        await asyncio.wait_for(runner.cleanup(), 10)
        assert time.monotonic() - started < 5, "shutdown must not wait for clients to hang up"
        await wait_until(lambda: client._ws is not None and client._ws.closed, timeout=5)
    finally:
        await client.close()
