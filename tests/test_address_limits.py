"""Limits per client address (signalling/address_limits.py): a client flooding the server
with idle WebSockets is refused with 429 before the upgrade, one guessing tokens is cut
off (429, closed sockets), while valid tokens, from other addresses and from the same
one, join and administer as usual.

The flooder connects from 127.0.0.2 (loopback too: Linux routes all of 127/8 to lo), the
well-behaved clients from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from signalling.address_limits import AUTH_FAILURE_RATE, MAX_UNJOINED_PER_ADDRESS, AddressLimits, client_key
from signalling.protocol import PROTOCOL_VERSION
from signalling.tokens import Grants
from tests.conftest import RunningServer, token_for, wait_until
from tests.test_admin_api import AdminApi, server_admin

FLOODER = "127.0.0.2"


@contextlib.asynccontextmanager
async def from_address(address: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as http:
        yield http


async def upgrade_status(http: aiohttp.ClientSession, server: RunningServer) -> tuple[int, dict | None]:
    """Open /ws: (101, None) and close it again, or the refusal's status and body."""
    try:
        ws = await http.ws_connect(server.url + "/ws")
    except aiohttp.WSServerHandshakeError as refused:
        async with http.get(server.url + "/ws") as response:  # the same refusal, read as JSON
            body = await response.json() if response.status == 429 else None
        return refused.status, body
    await ws.close()
    return 101, None


def limits_of(server: RunningServer) -> AddressLimits:
    from signalling.address_limits import address_limits_key

    return server.app[address_limits_key]


async def test_idle_sockets_from_one_address_are_capped_others_join(server, clients):
    limits = limits_of(server)
    async with from_address(FLOODER) as flood:
        sockets = await asyncio.gather(
            *(flood.ws_connect(server.url + "/ws") for _ in range(MAX_UNJOINED_PER_ADDRESS))
        )
        assert limits.unjoined(FLOODER) == MAX_UNJOINED_PER_ADDRESS
        status, body = await upgrade_status(flood, server)
        assert status == 429 and body["code"] == "too_many_requests", (status, body)
        assert "not joined" in body["message"]

        # another address is not affected: it connects, joins and chats
        ann = clients("Ann")
        joined = await ann.join("office")
        assert joined["participant_id"].startswith("PA_")
        assert (await ann.send_chat("hello"))["text"] == "hello"
        assert limits.unjoined("127.0.0.1") == 0, "a joined socket is no longer counted"

        # closing some idle sockets makes room again
        for ws in sockets[:5]:
            await ws.close()
        await wait_until(lambda: limits.unjoined(FLOODER) <= MAX_UNJOINED_PER_ADDRESS - 5, timeout=5)
        assert (await upgrade_status(flood, server))[0] == 101
        await asyncio.gather(*(ws.close() for ws in sockets[5:]))
    await wait_until(lambda: limits.unjoined(FLOODER) == 0, timeout=5)


async def guess_on_one_socket(
    flood: aiohttp.ClientSession, server: RunningServer, guesses: int
) -> list[dict]:
    """Send ``guesses`` joins with made-up tokens on one WebSocket; the replies."""
    ws = await flood.ws_connect(server.url + "/ws")
    replies = []
    for n in range(guesses):
        join = {"type": "join", "version": PROTOCOL_VERSION, "room": "r", "token": f"guess-{n}"}
        await ws.send_str(json.dumps({**join, "request_id": f"j{n}"}))
        reply = await asyncio.wait_for(ws.receive(), 5)
        assert reply.type == aiohttp.WSMsgType.TEXT, reply
        replies.append(json.loads(reply.data))
    closing = await asyncio.wait_for(ws.receive(), 5)
    assert closing.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 4000, closing
    await ws.close()
    return replies


async def test_token_guessing_is_cut_off_and_valid_tokens_still_work(server, clients):
    burst = int(AUTH_FAILURE_RATE.burst)
    async with from_address(FLOODER) as flood:
        replies = await guess_on_one_socket(flood, server, burst + 1)
        assert [e["code"] for e in replies] == ["token_invalid"] * (burst + 1)
        # from now on one wrong guess per socket: it is answered and the socket closed
        assert [e["code"] for e in await guess_on_one_socket(flood, server, 1)] == ["token_invalid"]
        async with flood.get(
            server.url + "/api/v1/rooms", headers={"Authorization": "Bearer forged"}
        ) as response:
            assert response.status == 429 and (await response.json())["code"] == "too_many_requests"

        # a valid token from the same address (someone else behind the same NAT) still works
        async with flood.get(
            server.url + "/api/v1/rooms", headers={"Authorization": f"Bearer {server_admin(server)}"}
        ) as response:
            assert response.status == 200
        ws = await flood.ws_connect(server.url + "/ws")
        token = token_for(server, "r", grants=Grants())
        await ws.send_json({"type": "join", "version": PROTOCOL_VERSION, "room": "r", "token": token})
        joined = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        assert joined["type"] == "joined", joined
        await ws.close()

    # and clients elsewhere carry on
    ann = clients("Ann", token=token_for(server, "r", grants=Grants()))
    assert (await ann.join("r"))["room"] == "r"

    # the bucket refills: after a pause a wrong guess is answered without closing the socket
    await asyncio.sleep(1.5 / AUTH_FAILURE_RATE.per_second)
    async with from_address(FLOODER) as flood:
        ws = await flood.ws_connect(server.url + "/ws")
        await ws.send_json({"type": "join", "version": PROTOCOL_VERSION, "room": "r", "token": "guess"})
        assert json.loads((await asyncio.wait_for(ws.receive(), 5)).data)["code"] == "token_invalid"
        await ws.send_json({"type": "ping", "request_id": "p"})
        assert json.loads((await asyncio.wait_for(ws.receive(), 5)).data)["type"] == "pong"
        await ws.close()


async def test_admin_api_token_guessing_gets_429(server):
    burst = int(AUTH_FAILURE_RATE.burst)
    statuses = []
    async with from_address(FLOODER) as flood:
        for n in range(burst + 2):
            async with flood.get(
                server.url + "/api/v1/rooms", headers={"Authorization": f"Bearer forged-{n}"}
            ) as response:
                statuses.append(response.status)
    assert statuses[:burst] == [401] * burst and statuses[burst:] == [429, 429], statuses
    assert (await AdminApi(server.url, server_admin(server))("GET", "/rooms"))[0] == 200


def _request(remote: str, *forwarded: str) -> web.Request:
    headers = CIMultiDict(("X-Forwarded-For", line) for line in forwarded)
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (remote, 5555) if name == "peername" else default
    )
    return make_mocked_request("GET", "/ws", headers=headers, transport=transport)


@pytest.mark.parametrize(
    ("behind_proxy", "forwarded", "expected"),
    [
        (False, ["203.0.113.9"], "10.0.0.5"),  # not behind a proxy: the header is the client's word
        (True, ["203.0.113.9"], "203.0.113.9"),
        (True, ["198.51.100.1, 203.0.113.9"], "203.0.113.9"),  # the address our proxy added
        (True, ["6.6.6.6", "203.0.113.9"], "203.0.113.9"),  # the client's own line, then the proxy's
        (True, ["2001:db8:1:2:aa::1"], "2001:db8:1:2::/64"),
        (True, [], "10.0.0.5"),
    ],
)
def test_the_address_is_the_peer_or_behind_a_proxy_what_it_forwarded(behind_proxy, forwarded, expected):
    limits = AddressLimits(behind_proxy=behind_proxy)
    assert limits.address(_request("10.0.0.5", *forwarded)) == expected


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:db8::ffff:1", "2001:db8::/64"),  # the same host's other address: the same key
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("unknown", "unknown"),
    ],
)
def test_ipv6_clients_are_counted_by_their_64(address, key):
    assert client_key(address) == key


def test_failures_refill_and_unjoined_sockets_are_counted_per_address():
    now = [0.0]
    limits = AddressLimits(clock=lambda: now[0])
    for _ in range(int(AUTH_FAILURE_RATE.burst)):
        assert limits.authentication_failed("a")
    assert not limits.authentication_failed("a")
    assert limits.authentication_failed("b"), "another address is untouched"
    now[0] += 1 / AUTH_FAILURE_RATE.per_second
    assert limits.authentication_failed("a"), "refilled"
    for _ in range(MAX_UNJOINED_PER_ADDRESS):
        limits.socket_opened("c")
    assert limits.socket_refusal("c") is not None
    assert limits.socket_refusal("a") is None
    limits.socket_joined_or_closed("c")
    assert limits.socket_refusal("c") is None
    assert limits.unjoined("c") == MAX_UNJOINED_PER_ADDRESS - 1
