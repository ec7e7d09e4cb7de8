"""The admin REST API: every endpoint, its refusals, and its effect on live participants."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from functools import cache
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate

from huddle_client import HuddleClient, HuddleError
from huddle_client.replay import EncodedClip, encode_vp8_clip
from signalling.config import Config
from signalling.openapi import REQUEST_BODIES
from signalling.tokens import ApiKeys, Grants, mint_token
from tests.conftest import RunningServer, free_port, start_server, token_for, wait_until

SERVER_ADMIN = Grants(admin=True)
LINGER = {"empty_timeout": 60}  # rooms made by the API outlive the fixture's 0.5 s default


class AdminApi:
    """Calls /api/v1 with a bearer token; returns (status, JSON body or None)."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url + "/api/v1"
        self.token = token

    async def __call__(
        self, method: str, path: str, body: Any = None, token: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        bearer = token or self.token
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.request(method, self.url + path, json=body, headers=headers, **kwargs) as response,
        ):
            data = await response.json() if response.status != 204 else None
            return response.status, data


def server_admin(server: RunningServer | Config) -> str:
    return token_for(server, None, identity="ops", grants=SERVER_ADMIN)


@pytest.fixture
def api(server: RunningServer) -> AdminApi:
    return AdminApi(server.url, server_admin(server))


@cache
def small_video() -> EncodedClip:
    return encode_vp8_clip(seconds=1.0, width=160, height=120, fps=15, bitrate=150_000)


class PacketCounts:
    """A ``packet_sink``: RTP packets received per track id."""

    def __init__(self) -> None:
        self.by_track: Counter[str] = Counter()

    def __call__(self, remote: Any, packet: Any) -> None:
        self.by_track[remote.track_id] += 1

    def total(self) -> int:
        return sum(self.by_track.values())


async def stops_rising(count: Callable[[], int], within: float = 1.0, quiet: float = 0.6) -> None:
    """``count`` no longer grows ``within`` seconds from now (checked over ``quiet`` seconds)."""
    await asyncio.sleep(within)
    settled = count()
    await asyncio.sleep(quiet)
    assert count() == settled, f"still receiving: {settled} -> {count()} packets"


async def keeps_rising(count: Callable[[], int], window: float = 0.6) -> None:
    before = count()
    await asyncio.sleep(window)
    assert count() > before, "no media is arriving"


async def live_call(
    clients, room: str, **publisher_args: Any
) -> tuple[HuddleClient, HuddleClient, PacketCounts]:
    """A publisher sending video and a subscriber counting its packets."""
    counts = PacketCounts()
    publisher = clients("Publisher", identity="alice", **publisher_args)
    subscriber = clients("Subscriber", identity="bob", packet_sink=counts)
    await publisher.join(room)
    await subscriber.join(room)
    await publisher.publish_clips([(small_video(), "camera")])
    await subscriber.wait_for_tracks(1)
    await wait_until(lambda: counts.total() > 10, timeout=10)
    return publisher, subscriber, counts


# --- every endpoint -------------------------------------------------------------


async def test_room_endpoints(server, clients, api):
    options = {"max_participants": 5, "lobby": False, "empty_timeout": 60, "e2ee_required": False}
    status, room = await api("POST", "/rooms", {"room": "board", "options": options})
    assert status == 201
    assert room["room"] == "board" and room["options"]["max_participants"] == 5
    assert room["participants"] == 0
    assert (await api("POST", "/rooms", {"room": "board"}))[1]["code"] == "room_exists"
    assert (await api("POST", "/rooms", {"room": "board"}))[0] == 409

    status, listed = await api("GET", "/rooms")
    assert status == 200 and [r["room"] for r in listed["rooms"]] == ["board"]
    status, patched = await api("PATCH", "/rooms/board", {"options": {"locked": True, "max_participants": 7}})
    assert status == 200 and patched["options"]["locked"] and patched["options"]["max_participants"] == 7
    assert server.conference.rooms["board"].options.locked
    status, got = await api("GET", "/rooms/board")
    assert status == 200 and got["options"]["lobby"] is False and got["options"]["locked"] is True

    # locked: a participant is refused, an admin joins
    with pytest.raises(HuddleError) as refused:
        await clients("Guest").join("board")
    assert refused.value.code == "room_locked"
    await api("PATCH", "/rooms/board", {"options": {"locked": False}})
    guest = clients("Guest", identity="guest")
    await guest.join("board")
    status, got = await api("GET", "/rooms/board")
    assert got["participants"] == 1

    status = (await api("DELETE", "/rooms/board"))[0]
    assert status == 204
    closed = await guest.wait_for_event("room_closed", timeout=1)
    assert closed["reason"]
    await wait_until(lambda: guest._ws is not None and guest._ws.closed, timeout=2)
    assert (await api("GET", "/rooms/board")) == (
        404,
        {"code": "unknown_room", "message": "there is no room board"},
    )
    assert (await api("DELETE", "/rooms/board"))[0] == 404


async def test_participant_endpoints(server, clients, api):
    guest = clients("Guest", identity="guest")
    await guest.join("desk")
    status, listed = await api("GET", "/rooms/desk/participants")
    assert status == 200
    (entry,) = listed["participants"]
    assert entry["identity"] == "guest" and entry["state"] == "active" and entry["grants"]["join"]
    status, one = await api("GET", "/rooms/desk/participants/guest")
    assert status == 200 and one["participant_id"] == guest.participant_id
    assert (await api("GET", "/rooms/desk/participants/nobody"))[1]["code"] == "unknown_participant"
    assert (await api("GET", "/rooms/nowhere/participants"))[1]["code"] == "unknown_room"
    status, error = await api("POST", "/rooms/desk/participants/guest/tracks/TR_none/mute", {"muted": True})
    assert (status, error["code"]) == (404, "unknown_track")
    status, changed = await api("PATCH", "/rooms/desk/participants/guest", {"grants": {"admin": True}})
    assert status == 200 and changed["grants"]["admin"] is True
    notice = await guest.wait_for_event("grants_changed", timeout=1)
    assert notice["grants"]["admin"] is True
    assert (await api("DELETE", "/rooms/desk/participants/guest"))[0] == 204
    assert (await api("GET", "/rooms/desk/participants"))[1] == {"participants": []}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/rooms", {"room": "bad room!"}),
        ("POST", "/rooms", {"room": "ok\n"}),
        ("POST", "/rooms", {"room": "ok", "options": {"max_participants": 0}}),
        ("POST", "/rooms", {"room": "ok", "surprise": 1}),
        ("POST", "/rooms", ["not", "an", "object"]),
        ("PATCH", "/rooms/x", {"options": {"locked": "yes"}}),
        ("PATCH", "/rooms/x/participants/y", {"grants": {"publish": ["telepathy"]}}),
        ("POST", "/rooms/x/participants/y/tracks/t/mute", {}),
        ("POST", "/rooms/x/messages", {"text": ""}),
    ],
)
async def test_invalid_bodies_are_refused_with_400(server, api, method, path, body):
    status, error = await api(method, path, body)
    assert (status, error["code"]) == (400, "invalid_request"), error
    assert error["message"]


async def test_malformed_and_oversized_bodies(server, api):
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        async with http.post(api.url + "/rooms", data=b"{not json", headers=headers) as response:
            assert response.status == 400 and (await response.json())["code"] == "invalid_request"
        async with http.post(api.url + "/rooms", data=b"[" * 20000, headers=headers) as response:
            assert response.status == 400 and (await response.json())["code"] == "invalid_request"
        async with http.post(api.url + "/rooms", data=b"[" * 70000, headers=headers) as response:
            assert response.status == 413 and (await response.json())["code"] == "request_too_large"
        big = b'{"room": "a", "x": "' + b"y" * 2_000_000 + b'"}'
        async with http.post(api.url + "/rooms", data=big, headers=headers) as response:
            assert response.status == 413 and (await response.json())["code"] == "request_too_large"
        async with http.put(api.url + "/rooms", headers=headers) as response:
            assert response.status == 405 and (await response.json())["code"] == "method_not_allowed"
        async with http.get(api.url + "/nothing", headers=headers) as response:
            assert response.status == 404 and (await response.json())["code"] == "not_found"
    assert server.conference.rooms == {}


async def test_the_served_openapi_document_is_valid_and_describes_every_route(server):
    async with aiohttp.ClientSession() as http, http.get(server.url + "/api/v1/openapi.json") as response:
        assert response.status == 200 and response.content_type == "application/json"
        served = await response.json()
    validate(served)  # OpenAPI 3.1
    described = {(method.upper(), path) for path, item in served["paths"].items() for method in item}
    routed = {
        (route.method, route.resource.canonical)
        for route in server.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/rooms")
        and route.method != "HEAD"
    }
    assert routed == described
    assert served["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert served["components"]["schemas"]["CreateRoom"] == REQUEST_BODIES["CreateRoom"]


# --- who may call it --------------------------------------------------------------


async def test_forged_and_unauthorised_calls_are_refused(server, api):
    await api("POST", "/rooms", {"room": "mine", "options": LINGER})
    await api("POST", "/rooms", {"room": "theirs", "options": LINGER})
    key = server.config.api_keys.first()[0]
    room_admin = token_for(server, "mine", grants=Grants(admin=True))
    cases = [
        ("", 401, "token_missing"),
        ("not-a-jwt", 401, "token_invalid"),
        (mint_token(key, "w" * 40, "ops", None, grants=SERVER_ADMIN), 401, "token_invalid"),
        (token_for(server, None, grants=SERVER_ADMIN, ttl=-60), 401, "token_expired"),
        (
            token_for(server, None, grants=SERVER_ADMIN, not_before=time.time() + 3600),
            401,
            "token_not_yet_valid",
        ),
        (token_for(server, "theirs"), 403, "permission_denied"),  # a participant's token
    ]
    for token, status, code in cases:
        for method, path in (("GET", "/rooms/theirs"), ("DELETE", "/rooms/theirs/participants/x")):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with (
                aiohttp.ClientSession() as http,
                http.request(method, api.url + path, headers=headers) as response,
            ):
                body = await response.json()
            assert (response.status, body["code"]) == (status, code), (token[:20], method, path)
    # A room admin token: its own room only, and never the server-wide operations.
    assert (await api("GET", "/rooms/mine", token=room_admin))[0] == 200
    assert (await api("GET", "/rooms/mine/participants", token=room_admin))[0] == 200
    for method, path, body in [
        ("GET", "/rooms/theirs", None),
        ("PATCH", "/rooms/theirs", {"options": {"locked": True}}),
        ("POST", "/rooms/theirs/messages", {"text": "hi"}),
        ("GET", "/rooms", None),
        ("POST", "/rooms", {"room": "new"}),
        ("DELETE", "/rooms/mine", None),
    ]:
        status, error = await api(method, path, body, token=room_admin)
        assert (status, error["code"]) == (403, "permission_denied"), (method, path)
    assert not server.conference.rooms["theirs"].options.locked
    assert set(server.conference.rooms) == {"mine", "theirs"}


async def test_a_token_of_a_rotated_out_key_is_refused(tmp_path):
    old = ApiKeys.generate()
    new = ApiKeys.generate()
    both = Config(port=free_port(), data_dir=tmp_path / "a", api_keys=ApiKeys(dict([old, new])))
    old_token = mint_token(old[0], old[1], "ops", None, grants=SERVER_ADMIN)
    new_token = mint_token(new[0], new[1], "ops", None, grants=SERVER_ADMIN)
    running, runner = await start_server(both)
    try:
        assert (await AdminApi(running.url, old_token)("GET", "/rooms"))[0] == 200
        assert (await AdminApi(running.url, new_token)("GET", "/rooms"))[0] == 200
    finally:
        await asyncio.wait_for(runner.cleanup(), 20)
    rotated = Config(port=free_port(), data_dir=tmp_path / "b", api_keys=ApiKeys(dict([new])))
    running, runner = await start_server(rotated)
    try:
        status, error = await AdminApi(running.url, old_token)("GET", "/rooms")
        assert (status, error["code"]) == (401, "token_invalid")
        assert (await AdminApi(running.url, new_token)("GET", "/rooms"))[0] == 200
    finally:
        await asyncio.wait_for(runner.cleanup(), 20)


# --- effects on a live call ---------------------------------------------------------


async def test_kick_removes_a_live_participant_and_revokes_its_token(server, clients, api):
    publisher, subscriber, counts = await live_call(clients, "kick")
    status, _ = await api("DELETE", "/rooms/kick/participants/alice")
    assert status == 204
    kicked = await publisher.wait_for_event("error", lambda e: e["code"] == "kicked", timeout=1)
    assert kicked["message"]
    await subscriber.wait_for_event("participant_left", timeout=1)
    await stops_rising(counts.total)
    with pytest.raises(HuddleError) as refused:
        await clients("Publisher again", token=publisher.token).join("kick")
    assert refused.value.code == "token_revoked"
    assert (await api("GET", "/rooms/kick/participants/alice"))[0] == 404


async def test_mute_by_the_api_stops_forwarding_and_tells_everyone(server, clients, api):
    publisher, subscriber, counts = await live_call(clients, "mute")
    (track_id,) = publisher.published.values()
    path = f"/rooms/mute/participants/alice/tracks/{track_id}/mute"
    status, alice = await api("POST", path, {"muted": True})
    assert status == 200 and alice["tracks"][0]["muted"] is True
    for person in (publisher, subscriber):
        muted = await person.wait_for_event("track_muted", timeout=1)
        assert (muted["track_id"], muted["muted"], muted["by_admin"]) == (track_id, True, True)
    await stops_rising(lambda: counts.by_track[track_id])
    await api("POST", path, {"muted": False})
    await asyncio.sleep(0.3)
    await keeps_rising(lambda: counts.by_track[track_id])


async def test_grant_changes_take_effect_on_a_live_participant(server, clients, api):
    publisher, subscriber, counts = await live_call(clients, "grants")
    (track_id,) = publisher.published.values()

    # data false: chat refused
    status, _ = await api("PATCH", "/rooms/grants/participants/alice", {"grants": {"data": False}})
    assert status == 200
    await publisher.wait_for_event("grants_changed", timeout=1)
    with pytest.raises(HuddleError) as refused:
        await publisher.send_chat("still here?")
    assert refused.value.code == "permission_denied"

    # subscribe false: no more media reaches bob
    status, bob = await api("PATCH", "/rooms/grants/participants/bob", {"grants": {"subscribe": False}})
    assert status == 200 and bob["grants"]["subscribe"] is False
    await stops_rising(counts.total)

    # publish []: alice's track is unpublished for the others
    other_counts = PacketCounts()
    watcher = clients("Watcher", packet_sink=other_counts)
    await watcher.join("grants")
    await watcher.wait_for_tracks(1)
    await keeps_rising(other_counts.total)
    status, alice = await api("PATCH", "/rooms/grants/participants/alice", {"grants": {"publish": []}})
    assert status == 200 and alice["tracks"] == [] and alice["grants"]["publish"] == []
    unpublished = await watcher.wait_for_event("track_unpublished", timeout=1)
    assert unpublished["track_id"] == track_id
    await stops_rising(other_counts.total)


async def test_system_message_reaches_the_room_and_its_history(server, clients, api):
    first, second = clients("First"), clients("Second")
    await first.join("news")
    await second.join("news")
    status, stored = await api("POST", "/rooms/news/messages", {"text": "Maintenance at 18:00"})
    assert status == 201 and stored["identity"] == "system" and stored["text"] == "Maintenance at 18:00"
    for person in (first, second):
        await wait_until(lambda p=person: any(m["id"] == stored["id"] for m in p.chat_messages), timeout=1)
    # The longest valid text, every character escaped in the JSON (\u0012: 6 bytes), fits the body limit.
    status, stored = await api("POST", "/rooms/news/messages", {"text": "\x12" * 4000})
    assert status == 201 and len(stored["text"]) == 4000
    late = clients("Late")
    joined = await late.join("news")
    assert [m["text"] for m in joined["chat_history"]] == ["Maintenance at 18:00", "\x12" * 4000]
