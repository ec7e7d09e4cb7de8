"""The Host check against DNS rebinding: a page whose own name was pointed at Huddle's
address sends that name as Host, and a development server (its token door open)
refuses it; a deployment lists its names with --allowed-host."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import aiohttp
import pytest

from huddle_client import HuddleClient
from signalling import tls
from signalling.config import Config
from signalling.security import host_allowed
from signalling.tokens import ApiKeys
from tests.conftest import LOOPBACK, free_port, start_server, token_for

REBOUND = "evil.example"  # the attacker's name, resolved to 127.0.0.1 for the attack


async def _status(
    url: str, method: str, path: str, host: str, json: dict | None = None
) -> tuple[int, dict | None]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url + path, headers={"Host": host}, json=json) as response,
    ):
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body


async def test_a_dev_server_refuses_a_rebound_host_on_every_path(server):
    port = server.config.port
    assert server.config.dev_tokens
    for method, path in [("GET", "/"), ("GET", "/r/x"), ("POST", "/api/dev/token"), ("GET", "/ws")]:
        status, body = await _status(server.url, method, path, f"{REBOUND}:{port}")
        assert status == 403, (method, path, status)
        assert body["code"] == "host_not_allowed" and REBOUND in body["message"], body
    assert server.conference.rooms == {}


async def test_a_dev_server_answers_loopback_names(server):
    port = server.config.port
    for host in [
        f"127.0.0.1:{port}",
        f"localhost:{port}",
        f"LocalHost:{port}",
        f"[::1]:{port}",
        "app.localhost",
    ]:
        status, _ = await _status(server.url, "GET", "/", host)
        assert status == 200, host
    status, body = await _status(
        server.url, "POST", "/api/dev/token", f"localhost:{port}", json={"room": "r", "name": "Ann"}
    )
    assert status == 200 and body["token"], body


@pytest.mark.parametrize("host", ["", "a.example; script-src *", "[zz]:1", "meet.example.com extra"])
def test_malformed_hosts_are_refused(host):
    assert not host_allowed(host, Config(allowed_hosts=["meet.example.com"]))


async def test_a_deployment_answers_only_its_allowed_hosts(tmp_path: Path):
    keys = ApiKeys.generate()
    config = Config(
        port=free_port(),
        data_dir=tmp_path / "data",
        api_keys=ApiKeys({keys[0]: keys[1]}),
        allowed_hosts=["meet.example.com"],
    )
    running, runner = await start_server(config)
    try:
        assert not config.dev_tokens
        assert (await _status(running.url, "GET", "/", "meet.example.com"))[0] == 200
        assert (await _status(running.url, "GET", "/", "MEET.example.com:443"))[0] == 200
        status, body = await _status(running.url, "GET", "/", "other.example.com")
        assert status == 403 and "--allowed-host" in body["message"]
        # a client addressing the loopback address itself (a health check on the box) is answered
        async with HuddleClient(
            running.url, "Ann", host_addresses=LOOPBACK, token=token_for(config, "r")
        ) as client:
            joined = await client.join("r")
        assert joined["participant_id"].startswith("PA_")
    finally:
        await asyncio.wait_for(runner.cleanup(), timeout=20)


async def test_a_keyed_server_without_allowed_hosts_answers_any_name(tmp_path: Path):
    keys = ApiKeys.generate()
    config = Config(port=free_port(), data_dir=tmp_path / "data", api_keys=ApiKeys({keys[0]: keys[1]}))
    running, runner = await start_server(config)
    try:
        assert (await _status(running.url, "GET", "/", "whatever.example:8443"))[0] == 200
        assert (await _status(running.url, "POST", "/api/dev/token", "localhost"))[0] == 404, "no dev door"
    finally:
        await asyncio.wait_for(runner.cleanup(), timeout=20)


def test_allowed_host_option_is_normalised():
    parser = argparse.ArgumentParser()
    tls.add_tls_options(parser)
    args = parser.parse_args(["--allowed-host", " Meet.Example.com ", "--allowed-host", "b.example"])
    config = Config()
    tls.configure(config, args)
    assert config.allowed_hosts == ["meet.example.com", "b.example"]
