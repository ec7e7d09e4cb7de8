"""Security headers on every response, and the Origin check on /ws and state-changing requests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from huddle_client import HuddleClient
from signalling.config import Config
from tests.conftest import LOOPBACK, free_port, start_server

FOREIGN = "http://evil.example"


PATHS = ["/", "/r/x", "/static/app.js", "/healthz", "/metrics", "/static/missing.js"]


@pytest.mark.parametrize("path", PATHS)
async def test_every_response_carries_the_security_headers(server, path):
    async with aiohttp.ClientSession() as http, http.get(server.url + path) as response:
        headers = response.headers
    csp = headers["Content-Security-Policy"]
    host = server.url.removeprefix("http://")
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        f"connect-src 'self' ws://{host} wss://{host}",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "worker-src 'self' blob:",
    ):
        assert directive in csp.split("; "), f"{directive!r} missing from {csp!r}"
    assert "unsafe" not in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Permissions-Policy"] == "camera=(self), microphone=(self), display-capture=(self)"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in headers, "HSTS only over TLS"


async def test_a_host_header_cannot_inject_into_the_csp(server):
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.url + "/", headers={"Host": "a.example; script-src *"}) as response,
    ):
        csp = response.headers["Content-Security-Policy"]
    assert "*" not in csp and "connect-src 'self';" in csp


async def _ws_status(url: str, origin: str | None) -> int:
    headers = {"Origin": origin} if origin else {}
    async with aiohttp.ClientSession() as http:
        try:
            async with http.ws_connect(url + "/ws", headers=headers) as ws:
                await ws.send_json({"type": "ping", "request_id": "p1"})
                reply = await asyncio.wait_for(ws.receive_json(), 5)
                assert reply == {"type": "pong", "request_id": "p1"}
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


async def _dev_token_status(url: str, origin: str | None) -> int:
    headers = {"Origin": origin} if origin else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(url + "/api/dev/token", json={"room": "o"}, headers=headers) as response,
    ):
        return response.status


async def test_foreign_origin_is_refused_own_and_none_are_served(server):
    own = server.url
    assert await _ws_status(server.url, FOREIGN) == 403
    assert await _ws_status(server.url, own.replace("127.0.0.1", "localhost")) == 403, "another host"
    assert await _ws_status(server.url, own.replace("http://", "https://")) == 403, "another scheme"
    assert await _ws_status(server.url, "null") == 403
    assert await _ws_status(server.url, own) == 101
    assert await _ws_status(server.url, None) == 101, "non-browser clients send no Origin"

    assert await _dev_token_status(server.url, FOREIGN) == 403
    assert await _dev_token_status(server.url, own) == 200
    assert await _dev_token_status(server.url, None) == 200


async def test_refused_origin_gets_a_coded_json_error(server):
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.url + "/api/dev/token", json={"room": "o"}, headers={"Origin": FOREIGN}) as response,
    ):
        body = await response.json()
        assert response.headers["X-Frame-Options"] == "DENY"
    assert body["code"] == "origin_not_allowed" and "evil.example" in body["message"]
    assert server.conference.rooms == {}


async def test_an_allowed_origin_may_connect_and_join(tmp_path: Path):
    app_origin = "https://app.example.com"
    config = Config(
        port=free_port(), data_dir=tmp_path / "data", empty_room_timeout=0.5, allowed_origins=[app_origin]
    )
    running, runner = await start_server(config)
    try:
        assert await _ws_status(running.url, app_origin) == 101
        assert await _ws_status(running.url, app_origin + ":443") == 101, "default port spelled out"
        assert await _ws_status(running.url, "https://app.example.com:8443") == 403
        assert await _ws_status(running.url, FOREIGN) == 403
        assert await _dev_token_status(running.url, app_origin) == 200
        async with HuddleClient(running.url, "Guest", host_addresses=LOOPBACK) as client:
            joined = await client.join("allowed")
        assert joined["participant_id"].startswith("PA_")
    finally:
        await asyncio.wait_for(runner.cleanup(), timeout=20)


async def test_behind_proxy_the_browser_origin_is_https(tmp_path: Path):
    config = Config(port=free_port(), data_dir=tmp_path / "data", behind_proxy=True)
    running, runner = await start_server(config)
    try:
        host = running.url.removeprefix("http://")
        assert await _ws_status(running.url, f"https://{host}") == 101
        assert await _ws_status(running.url, FOREIGN) == 403
        async with (
            aiohttp.ClientSession() as http,
            http.get(running.url + "/", headers={"X-Forwarded-Proto": "https"}) as response,
        ):
            assert f"connect-src 'self' wss://{host};" in response.headers["Content-Security-Policy"]
    finally:
        await asyncio.wait_for(runner.cleanup(), timeout=20)
