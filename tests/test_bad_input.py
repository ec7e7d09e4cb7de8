"""Hostile or broken input gets an error with a code and hurts nobody else."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import pytest
from aiortc import RTCRtpSender

from huddle_client.synthetic import ColourVideoTrack
from signalling.config import Config
from tests.conftest import free_port, start_server, token_for, wait_until

BROKEN_SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"


async def request(ws: aiohttp.ClientWebSocketResponse, payload: str) -> dict:
    """Send ``payload``; the reply (reconnect tokens the server sends meanwhile are skipped)."""
    await ws.send_str(payload)
    while True:
        message = await asyncio.wait_for(ws.receive_json(), 5)
        if message["type"] != "token_refresh":
            return message


def join(server, room: str = "calm", **extra) -> str:
    token = token_for(server, room, name="Mallory")
    return json.dumps({"type": "join", "version": 1, "room": room, "token": token, **extra})


@pytest.fixture
async def live_room(clients):
    """Two participants with media flowing and chat working."""
    packets = {"count": 0}

    def count(track, packet) -> None:
        packets["count"] += 1

    speaker, listener = clients("Speaker"), clients("Listener", packet_sink=count)
    await speaker.join("calm")
    await listener.join("calm")
    await speaker.publish([(ColourVideoTrack((10, 200, 10)), "camera")])
    await listener.wait_for_tracks(1)
    await wait_until(lambda: packets["count"] > 10)
    await speaker.send_chat("before the storm")
    return speaker, listener, packets


async def test_each_bad_message_gets_a_coded_error_and_the_room_carries_on(server, clients, live_room):
    speaker, listener, packets = live_room
    async with aiohttp.ClientSession() as http, http.ws_connect(server.url + "/ws") as ws:
        before_join = [
            ("not json at all", "invalid_json"),
            ("[1, 2, 3]", "invalid_message"),
            ('{"no_type": true}', "invalid_message"),
            ('{"type": "teleport"}', "unknown_type"),
            ('{"type": "publish_offer", "sdp": "v=0"}', "not_joined"),
            ('{"type": "join", "version": 1, "room": "calm"}', "invalid_message"),
            ('{"type": "join", "version": 1, "room": 42, "name": "M"}', "invalid_message"),
            ('{"type": "join", "version": 2, "room": "calm", "name": "M"}', "invalid_message"),
            (join(server, room="../../etc"), "invalid_message"),
            (json.dumps({"type": "ping", "padding": "x" * 1_000_000}), "message_too_large"),
        ]
        for payload, code in before_join:
            reply = await request(ws, payload)
            assert reply["type"] == "error" and reply["code"] == code, (payload[:60], reply)
            assert reply["message"]

        joined = await request(ws, join(server))
        assert joined["type"] == "joined"
        assert [m["text"] for m in joined["chat_history"]] == ["before the storm"]
        after_join = [
            (join(server), "already_joined"),
            (json.dumps({"type": "publish_offer", "sdp": "this is not sdp"}), "invalid_sdp"),
            (json.dumps({"type": "publish_offer", "sdp": BROKEN_SDP}), "invalid_sdp"),
            (json.dumps({"type": "publish_offer", "sdp": 12}), "invalid_message"),
            (json.dumps({"type": "subscribe_answer", "sdp": BROKEN_SDP}), "invalid_sdp"),
            (json.dumps({"type": "mute", "track_id": "TR_nothing", "muted": True}), "unknown_track"),
            (
                json.dumps({"type": "ice_candidate", "target": "publisher", "candidate": "candidate:x"}),
                "negotiation_error",  # no publisher connection: it never offered successfully
            ),
            (
                json.dumps(
                    {
                        "type": "ice_candidate",
                        "target": "subscriber",
                        "candidate": "candidate:x",
                        "sdp_mid": "0",
                    }
                ),
                "invalid_candidate",
            ),
            (
                json.dumps(
                    {
                        "type": "ice_candidate",
                        "target": "subscriber",
                        "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
                        "sdp_mid": None,
                        "sdp_mline_index": None,
                    }
                ),
                "invalid_candidate",
            ),
            (json.dumps({"type": "mute", "track_id": "TR_1"}), "invalid_message"),
        ]
        for payload, code in after_join:
            reply = await request(ws, payload)
            while reply["type"] != "error":  # room events (participant_joined…) may interleave
                reply = await asyncio.wait_for(ws.receive_json(), 5)
            assert reply["code"] == code, (payload[:60], reply)

        # the offender is still connected and served
        assert (await request(ws, '{"type": "ping"}'))["type"] == "pong"

    # media kept flowing to the listener, and chat still works, history intact
    seen = packets["count"]
    await wait_until(lambda: packets["count"] > seen + 20)
    await speaker.send_chat("after the storm")
    await wait_until(lambda: [m["text"] for m in listener.chat_messages][-1:] == ["after the storm"])
    joined = await clients("Late").join("calm")
    assert [m["text"] for m in joined["chat_history"]] == ["before the storm", "after the storm"]


async def test_silent_connection_is_closed_after_join_timeout(tmp_path):
    config = Config(port=free_port(), data_dir=tmp_path, join_timeout=0.5)
    running, runner = await start_server(config)
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(running.url + "/ws") as ws:
            reply = await asyncio.wait_for(ws.receive_json(), 5)
            assert reply["code"] == "join_timeout"
            closing = await asyncio.wait_for(ws.receive(), 5)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    finally:
        await runner.cleanup()


async def test_oversized_frame_closes_only_the_offender(server, live_room):
    speaker, listener, packets = live_room
    async with aiohttp.ClientSession() as http, http.ws_connect(server.url + "/ws") as ws:
        with contextlib.suppress(ConnectionError):  # the server may cut us off mid-send
            await ws.send_str("x" * (5 * 1024 * 1024))
        closing = await asyncio.wait_for(ws.receive(), 5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert ws.closed
    seen = packets["count"]
    await wait_until(lambda: packets["count"] > seen + 10)


async def test_answer_without_an_offer_is_a_negotiation_error(server):
    async with aiohttp.ClientSession() as http, http.ws_connect(server.url + "/ws") as ws:
        assert (await request(ws, join(server, room="empty")))["type"] == "joined"
        reply = await request(ws, json.dumps({"type": "subscribe_answer", "sdp": BROKEN_SDP}))
        assert reply["code"] == "negotiation_error"


async def test_unsupported_codec_is_refused_and_a_good_offer_still_works(clients):
    publisher, viewer = clients("Publisher"), clients("Viewer")
    await publisher.join("codecs")
    await viewer.join("codecs")
    pc = publisher.publisher_connection
    transceiver = pc.addTransceiver(ColourVideoTrack((250, 250, 0)), direction="sendonly")
    transceiver.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/VP8"]
    )
    await pc.setLocalDescription(await pc.createOffer())
    vp9_only = pc.localDescription.sdp.replace("VP8/90000", "VP9/90000")
    await publisher.send({"type": "publish_offer", "sdp": vp9_only, "tracks": []})
    error = await publisher.wait_for_event("error")
    assert error["code"] == "unsupported_codec" and "VP9" in error["message"]

    # the same connection can still publish, and no phantom track was left behind
    published = await publisher.publish_transceivers({transceiver: "camera"})
    tracks = await viewer.wait_for_tracks(1)
    assert [t.track_id for t in tracks] == list(published.values())
    await viewer.wait_for_event("track_published")
    assert list(viewer.participants[publisher.participant_id].tracks) == list(published.values())


async def test_a_full_room_refuses_the_next_joiner(tmp_path):
    config = Config(port=free_port(), data_dir=tmp_path, max_participants_per_room=2)
    running, runner = await start_server(config)
    try:
        async with aiohttp.ClientSession() as http:
            sockets = [await http.ws_connect(running.url + "/ws") for _ in range(3)]
            assert (await request(sockets[0], join(running, room="small")))["type"] == "joined"
            assert (await request(sockets[1], join(running, room="small")))["type"] == "joined"
            refused = await request(sockets[2], join(running, room="small"))
            assert refused["type"] == "error" and refused["code"] == "room_full"
            assert (await request(sockets[2], join(running, room="other")))["type"] == "joined"
            for ws in sockets:
                await ws.close()
    finally:
        await runner.cleanup()


async def test_room_links_serve_the_page_always_revalidated(server):
    async with aiohttp.ClientSession() as http:
        for path in ("/r/team-standup", "/", "/static/style.css"):
            async with http.get(server.url + path) as response:
                assert response.status == 200, path
                assert response.headers["Cache-Control"] == "no-cache", path
        async with http.get(server.url + "/r/team-standup") as response:
            assert "text/html" in response.headers["Content-Type"]
