"""A room with a lobby: joiners wait, with no media and no chat, until a room admin decides."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from huddle_client import HuddleError
from huddle_client.synthetic import ColourVideoTrack
from signalling.moderation import Moderation
from signalling.rooms import RoomOptions
from signalling.tokens import Grants
from tests.conftest import token_for, wait_until

ADMIN = Grants(admin=True)


@pytest.fixture
async def guarded_room(server, clients):
    """A lobby room with an admin publishing video and chatting."""
    server.conference.create_room("guarded", RoomOptions(lobby=True))
    admin = clients("Host", token=token_for(server, "guarded", "host", "Host", grants=ADMIN))
    joined = await admin.join("guarded")
    assert joined["lobby"] == []
    await admin.publish([(ColourVideoTrack((200, 30, 30)), "camera")])
    return admin


async def raw_join(
    server, room: str, token: str
) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    http = aiohttp.ClientSession()
    ws = await http.ws_connect(server.url.replace("http", "ws", 1) + "/ws")
    await ws.send_json({"type": "join", "version": 1, "room": room, "token": token})
    return http, ws


async def test_a_waiting_joiner_gets_no_media_and_no_chat_until_admitted(server, clients, guarded_room):
    admin = guarded_room
    packets = {"count": 0}

    def count(track, packet) -> None:
        packets["count"] += 1

    guest = clients("Guest", packet_sink=count)
    joining = asyncio.create_task(guest.join("guarded", lobby_timeout=20))
    update = await admin.wait_for_event("lobby_update", lambda e: e["waiting"], timeout=10)
    (waiting,) = update["waiting"]
    assert waiting["name"] == "Guest"
    assert guest.in_lobby and not joining.done()

    # While waiting: the room does not count it, chat does not reach it, media neither.
    room = server.conference.rooms["guarded"]
    assert waiting["participant_id"] in room.lobby and waiting["participant_id"] not in room.peers
    await admin.send_chat("secret agenda")
    assert "guarded" in server.conference.media.room_ids()
    media_room = server.conference.media._rooms["guarded"]
    assert waiting["participant_id"] not in media_room.participants
    assert not any(e["type"] in ("subscribe_offer", "chat", "participant_joined") for e in guest.events)
    assert packets["count"] == 0

    await admin.admit(waiting["participant_id"])
    joined = await asyncio.wait_for(joining, 10)
    assert [p["name"] for p in joined["participants"]] == ["Host"]
    assert [m["text"] for m in joined["chat_history"]] == ["secret agenda"]  # history is theirs once in
    await guest.wait_for_tracks(1)
    await wait_until(lambda: packets["count"] > 20)
    assert (await admin.wait_for_event("lobby_update", lambda e: not e["waiting"]))["waiting"] == []


async def test_a_rejected_joiner_is_told_and_disconnected(server, guarded_room):
    admin = guarded_room
    http, ws = await raw_join(server, "guarded", token_for(server, "guarded", name="Pest"))
    try:
        waiting = await asyncio.wait_for(ws.receive_json(), 5)
        assert waiting["type"] == "lobby_waiting"
        # Waiting, it may not do anything but wait or leave.
        await ws.send_json({"type": "mute", "track_id": "TR_x", "muted": True, "request_id": "m"})
        assert (await asyncio.wait_for(ws.receive_json(), 5))["code"] == "not_admitted"
        await admin.reject(waiting["participant_id"])
        refusal = await asyncio.wait_for(ws.receive_json(), 5)
        assert refusal["type"] == "error" and refusal["code"] == "lobby_rejected"
        closing = await asyncio.wait_for(ws.receive(), 5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    finally:
        await ws.close()
        await http.close()
    room = server.conference.rooms["guarded"]
    assert not room.lobby and list(room.peers.values())[0].name == "Host"
    assert not any(e["type"] == "participant_joined" for e in admin.events)


async def test_only_a_room_admin_may_admit(server, clients, guarded_room):
    admin = guarded_room
    http, ws = await raw_join(server, "guarded", token_for(server, "guarded", name="Waiting"))
    try:
        waiting = await asyncio.wait_for(ws.receive_json(), 5)
        other_admin_room = clients("Elsewhere", token=token_for(server, "other", grants=ADMIN))
        await other_admin_room.join("other")
        await other_admin_room.send({"type": "lobby_admit", "participant_id": waiting["participant_id"]})
        assert (await other_admin_room.wait_for_event("error"))["code"] == "unknown_participant"

        # An admitted non-admin cannot admit either.
        server.conference.rooms["guarded"].options.lobby = False
        member = clients("Member")
        await member.join("guarded")
        await member.send({"type": "lobby_admit", "participant_id": waiting["participant_id"]})
        assert (await member.wait_for_event("error"))["code"] == "permission_denied"
        assert waiting["participant_id"] in server.conference.rooms["guarded"].lobby
        await ws.send_json({"type": "leave"})
        await wait_until(lambda: not server.conference.rooms["guarded"].lobby, timeout=5)
        assert any(e["type"] == "lobby_update" and e["waiting"] == [] for e in admin.events)
    finally:
        await ws.close()
        await http.close()


async def test_an_admin_joins_a_lobby_room_directly_and_a_locked_room_refuses_others(server, clients):
    server.conference.create_room("vault", RoomOptions(lobby=True, locked=True))
    admin = clients("Admin", token=token_for(server, "vault", grants=ADMIN))
    assert (await admin.join("vault"))["room_options"]["lobby"] is True
    with pytest.raises(HuddleError) as refused:
        await clients("Guest").join("vault")
    assert refused.value.code == "room_locked"


async def test_an_e2ee_room_refuses_a_publish_not_declared_encrypted(server, clients):
    server.conference.create_room("sealed", RoomOptions(e2ee_required=True))
    client = clients("Plain")
    joined = await client.join("sealed")
    assert joined["room_options"]["e2ee_required"] is True
    with pytest.raises(HuddleError) as refused:
        await client.publish([(ColourVideoTrack((1, 2, 3)), "camera")])
    assert refused.value.code == "e2ee_required"
    # The same offer declared encrypted is accepted (the server cannot see inside frames).
    pc = client.publisher_connection
    await pc.setLocalDescription(await pc.createOffer())
    answer = client._expect("publish_answer")
    await client.send({"type": "publish_offer", "sdp": pc.localDescription.sdp, "e2ee": True})
    assert json.dumps(await client._wait(answer)).count("track_id") == 1


async def test_an_admitted_participant_who_reconnects_skips_the_lobby_until_it_leaves(
    server, clients, guarded_room
):
    admin = guarded_room
    token = token_for(server, "guarded", "guest-1", "Guest")
    first = clients("Guest", token=token)
    joining = asyncio.create_task(first.join("guarded", lobby_timeout=10))
    update = await admin.wait_for_event("lobby_update", lambda e: e["waiting"])
    await admin.admit(update["waiting"][0]["participant_id"])
    await asyncio.wait_for(joining, 10)

    await first.abort()  # the network drops: no leave
    again = clients("Guest", token=token)
    joined = await again.join("guarded")
    assert not again.in_lobby and joined["identity"] == "guest-1"

    await again.leave()  # on purpose: the next visit waits in the lobby again
    await wait_until(lambda: not server.conference.rooms["guarded"].peers.keys() - {admin.participant_id})
    later = clients("Guest", token=token)
    waiting = asyncio.create_task(later.join("guarded", lobby_timeout=10))
    await wait_until(lambda: later.in_lobby, timeout=5)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)


async def test_a_room_made_ahead_of_time_waits_for_its_first_joiner(server, clients):
    server.conference.create_room("later", RoomOptions(lobby=True))
    await asyncio.sleep(server.config.empty_room_timeout + 0.3)
    assert server.conference.rooms["later"].options.lobby, "kept with its options"
    admin = clients("Admin", token=token_for(server, "later", grants=ADMIN))
    await admin.join("later")
    await admin.leave()
    await wait_until(
        lambda: "later" not in server.conference.rooms, timeout=server.config.empty_room_timeout + 3
    )


async def test_turning_the_lobby_off_lets_everyone_waiting_in(server, clients, guarded_room):
    admin = guarded_room
    guests = [clients(f"Guest {i}") for i in range(2)]
    joining = [asyncio.create_task(g.join("guarded", lobby_timeout=10)) for g in guests]
    await admin.wait_for_event("lobby_update", lambda e: len(e["waiting"]) == 2)
    await Moderation(server.conference).update_room("guarded", {"lobby": False})
    for joined in await asyncio.wait_for(asyncio.gather(*joining), 10):
        assert "Host" in [p["name"] for p in joined["participants"]]
    assert not server.conference.rooms["guarded"].lobby
    assert len(server.conference.rooms["guarded"].peers) == 3


async def test_a_participant_made_admin_is_told_who_is_waiting(server, clients, guarded_room):
    admin = guarded_room
    server.conference.rooms["guarded"].options.lobby = False
    helper = clients("Helper", token=token_for(server, "guarded", "helper"))
    await helper.join("guarded")
    server.conference.rooms["guarded"].options.lobby = True
    guest = clients("Guest")
    joining = asyncio.create_task(guest.join("guarded", lobby_timeout=10))
    await admin.wait_for_event("lobby_update", lambda e: e["waiting"])
    assert not any(e["type"] == "lobby_update" for e in helper.events)
    await Moderation(server.conference).update_grants("guarded", "helper", {"admin": True})
    update = await helper.wait_for_event("lobby_update", timeout=5)
    assert [w["name"] for w in update["waiting"]] == ["Guest"]
    await helper.admit(update["waiting"][0]["participant_id"])
    await asyncio.wait_for(joining, 10)


async def test_a_new_empty_timeout_applies_to_an_empty_room_at_once(server):
    server.conference.create_room("idle", RoomOptions())
    await Moderation(server.conference).update_room("idle", {"empty_timeout": 0.2})
    await wait_until(lambda: "idle" not in server.conference.rooms, timeout=3)
