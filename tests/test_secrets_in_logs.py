"""``huddle serve`` at DEBUG never writes an API secret, a token or the TURN secret to its log.

Traffic: tokens minted and used to join, chat, a forged and an expired token, a
link with a token in its query string, admin API calls with a bearer token
(kick, system message), webhooks signed with the API secret to a local receiver.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from huddle_client import HuddleClient, HuddleError
from signalling.tokens import ApiKeys, Grants, mint_token
from tests.conftest import LOOPBACK, ServerProcess, free_port, wait_until


async def test_secrets_and_tokens_never_reach_the_log(tmp_path: Path):
    key, secret = ApiKeys.generate()
    turn_secret = "turn-" + secrets.token_hex(16)
    hooks: list[bytes] = []

    async def receive(request: web.Request) -> web.Response:
        hooks.append(await request.read())
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", receive)
    runner = web.AppRunner(receiver)
    await runner.setup()
    hook_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()

    log = tmp_path / "serve.log"
    server = ServerProcess(
        tmp_path / "data",
        extra_args=[
            "--turn-url",
            "turn:127.0.0.1:3478?transport=udp",
            "--webhook-url",
            f"http://127.0.0.1:{hook_port}/hook",
        ],
        env={**os.environ, "HUDDLE_API_KEYS": f"{key}: {secret}", "HUDDLE_TURN_SECRET": turn_secret},
        log_path=log,
        log_level="DEBUG",
    )
    tokens = {
        "alice": mint_token(key, secret, "alice", "logs", name="Alice"),
        "bob": mint_token(key, secret, "bob", "logs", name="Bob"),
        "admin": mint_token(key, secret, "ops", None, grants=Grants(admin=True)),
        "expired": mint_token(key, secret, "late", "logs", ttl=-60),
        "forged": mint_token(key, "x" * 40, "mallory", "logs"),
    }
    alice = HuddleClient(server.url, "Alice", host_addresses=LOOPBACK, token=tokens["alice"])
    bob = HuddleClient(server.url, "Bob", host_addresses=LOOPBACK, token=tokens["bob"])
    try:
        await server.start()
        await alice.join("logs")
        await bob.join("logs")
        await alice.send_chat("hello")
        await wait_until(lambda: len(bob.chat_messages) == 1)
        for bad in ("expired", "forged"):
            async with HuddleClient(server.url, bad, host_addresses=LOOPBACK, token=tokens[bad]) as intruder:
                with pytest.raises(HuddleError):
                    await intruder.join("logs")

        auth = {"Authorization": f"Bearer {tokens['admin']}"}
        async with aiohttp.ClientSession(headers=auth) as http:
            async with http.get(f"{server.url}/r/logs?token={tokens['alice']}") as page:
                assert page.status == 200
            async with http.get(f"{server.url}/api/v1/rooms") as rooms:
                assert rooms.status == 200
            async with http.post(f"{server.url}/api/v1/rooms/logs/messages", json={"text": "notice"}) as sent:
                assert sent.status == 201
            async with http.delete(f"{server.url}/api/v1/rooms/logs/participants/bob") as kicked:
                assert kicked.status == 204
        await wait_until(lambda: bob._ws is not None and bob._ws.closed, timeout=5)
        await wait_until(lambda: len(hooks) >= 3, timeout=10)
    finally:
        await alice.close()
        await bob.close()
        await server.stop()
        await asyncio.wait_for(runner.cleanup(), 10)

    text = log.read_text()
    assert "DEBUG" in text and '"GET /api/v1/rooms' in text, "the log is at DEBUG, with the access log"
    assert '"GET /r/logs?[redacted]' in text
    for name, value in [("API secret", secret), ("TURN secret", turn_secret)]:
        assert value not in text, f"the {name} is in the log"
    for name, token in tokens.items():
        assert token not in text, f"the {name} token is in the log"
        signature = token.rsplit(".", 1)[1]
        assert signature not in text, f"the signature of the {name} token is in the log"
    assert "Bearer" not in text
