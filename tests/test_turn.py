"""TURN: credentials on join, and media through a real coturn on 127.0.0.1.

coturn (Debian's ``coturn`` package, which scripts/test installs) is started by
``huddle turn`` with a rendered configuration that listens on 127.0.0.1 only and
may relay to 127.0.0.1, the SFU's address in these tests.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aioice import stun, turn

from huddle_client import HuddleClient
from huddle_client.synthetic import ColourVideoTrack
from signalling import cli
from signalling.config import Config
from signalling.turn import CoturnOptions, TurnSettings, render_coturn_config, turn_credentials
from tests import turn_fixtures
from tests.conftest import LOOPBACK, RunningServer, ServerProcess
from tests.media_checks import close_to, video_colour
from tests.turn_fixtures import SECRET, Coturn, huddle_with_turn, nominated_pair, relayed_and_direct


def test_credentials_match_the_turn_rest_api_scheme():
    username, credential = turn_credentials("s3cret", "alice", ttl=600, now=1_700_000_000.7)
    assert username == "1700000600:alice"
    expected = base64.b64encode(hmac.new(b"s3cret", b"1700000600:alice", hashlib.sha1).digest()).decode()
    assert credential == expected
    # hand-computed once with: printf '1700000600:alice' | openssl dgst -sha1 -hmac s3cret -binary | base64
    assert credential == "bUIJIVaC05oyFgKsQvKAparqg1Q="


def test_ice_server_expires_ttl_seconds_from_now():
    settings = TurnSettings(secret="s", urls=["turn:127.0.0.1:3478?transport=udp"], ttl=3600)
    before = int(time.time())
    server = settings.ice_server("ID_x")
    after = int(time.time())
    expiry, identity = server["username"].split(":", 1)
    assert identity == "ID_x"
    assert before + 3600 <= int(expiry) <= after + 3600
    assert server["urls"] == ["turn:127.0.0.1:3478?transport=udp"]


def test_settings_repr_hides_the_secret():
    assert SECRET not in repr(TurnSettings(secret=SECRET, urls=["turn:x"]))
    assert SECRET not in repr(Config(turn=TurnSettings(secret=SECRET, urls=["turn:x"])))


def test_rendered_production_config():
    text = render_coturn_config(
        "sec",
        CoturnOptions(
            listening_ips=["203.0.113.5"],
            relay_ips=["203.0.113.5"],
            cert=Path("/etc/ssl/turn.pem"),
            pkey=Path("/etc/ssl/turn.key"),
            allowed_peer_ips=["10.0.0.7"],
        ),
    )
    lines = text.splitlines()
    for line in [
        "use-auth-secret",
        "static-auth-secret=sec",
        "listening-port=3478",
        "tls-listening-port=5349",
        "cert=/etc/ssl/turn.pem",
        "pkey=/etc/ssl/turn.key",
        "listening-ip=203.0.113.5",
        "relay-ip=203.0.113.5",
        "no-multicast-peers",
        "no-cli",
        "fingerprint",
        "no-tlsv1",
        "no-tlsv1_1",
        "denied-peer-ip=10.0.0.0-10.255.255.255",
        "denied-peer-ip=127.0.0.0-127.255.255.255",
        "allowed-peer-ip=10.0.0.7",
        "user-quota=12",
        "total-quota=1200",
    ]:
        assert line in lines, line
    assert "allow-loopback-peers" not in lines
    assert any(line.startswith("realm=") for line in lines)


# --- a real coturn (tests/turn_fixtures.py) -------------------------------------

coturn = turn_fixtures.coturn


@pytest.fixture
async def turn_server(tmp_path: Path, coturn: Coturn) -> AsyncIterator[RunningServer]:
    async with huddle_with_turn(tmp_path, coturn.url) as running:
        yield running


async def _allocate(port: int, username: str, password: str) -> tuple[str, int]:
    transport, _ = await asyncio.wait_for(
        turn.create_turn_endpoint(
            asyncio.DatagramProtocol, ("127.0.0.1", port), username=username, password=password
        ),
        10,
    )
    try:
        return transport.get_extra_info("sockname")
    finally:
        transport.close()


async def test_coturn_allocates_with_fresh_credentials(coturn):
    username, credential = turn_credentials(SECRET, "alice", ttl=60)
    relayed = await _allocate(coturn.port, username, credential)
    assert relayed[0] == "127.0.0.1"


async def test_coturn_refuses_a_wrong_secret(coturn):
    username, credential = turn_credentials("not-the-secret", "mallory", ttl=60)
    with pytest.raises(stun.TransactionFailed) as failure:
        await _allocate(coturn.port, username, credential)
    assert failure.value.response.error_code == 401


async def test_coturn_refuses_expired_credentials(coturn):
    username, credential = turn_credentials(SECRET, "alice", ttl=60, now=time.time() - 120)
    with pytest.raises(stun.TransactionFailed) as failure:
        await _allocate(coturn.port, username, credential)
    assert failure.value.response.error_code == 401


def _selected_local_candidate_type(sender_or_receiver) -> str:
    return nominated_pair(sender_or_receiver)[1].local_candidate.type


async def test_relay_only_client_exchanges_media_through_coturn(turn_server, coturn):
    async with relayed_and_direct(turn_server.url) as (relayed, direct):
        joined = await relayed.join("turn")
        (ice_server,) = joined["ice_servers"]
        assert ice_server["urls"] == [coturn.url]
        assert ice_server["username"].endswith(":" + relayed.identity)
        await direct.join("turn")
        await relayed.publish([(ColourVideoTrack((255, 0, 0)), "camera")])
        await direct.publish([(ColourVideoTrack((0, 0, 255)), "camera")])

        # The relayed client's media goes out through coturn ...
        (sent,) = [t for t in relayed.publisher_connection.getTransceivers() if t.kind == "video"]
        assert _selected_local_candidate_type(sent.sender) == "relay"
        from_relayed = (await direct.wait_for_tracks(1, timeout=15))[0]
        assert close_to(await video_colour(from_relayed, timeout=15), (255, 0, 0))

        # ... and comes in through it.
        to_relayed = (await relayed.wait_for_tracks(1, timeout=15))[0]
        assert close_to(await video_colour(to_relayed, timeout=15), (0, 0, 255))
        assert _selected_local_candidate_type(to_relayed.receiver) == "relay"
        # (Which pair the direct client ends on is aioice's race: with aggressive nomination
        # the first check to succeed wins, host or relay; so nothing is asserted about it.)


async def test_the_secret_is_never_logged(turn_server, coturn, caplog):
    caplog.set_level(logging.DEBUG)
    a = HuddleClient(turn_server.url, name="A", host_addresses=LOOPBACK)
    b = HuddleClient(turn_server.url, name="B", host_addresses=LOOPBACK, ice_transport_policy="relay")
    try:
        await a.join("quiet")
        await b.join("quiet")
        await b.publish([(ColourVideoTrack((0, 255, 0)), "camera")])
        await a.wait_for_tracks(1, timeout=15)
    finally:
        await b.close()
        await a.close()
    assert caplog.records, "nothing was captured"
    assert SECRET not in caplog.text
    assert SECRET not in coturn.log_file.read_text()


def test_turn_options_need_a_secret_and_read_it_from_the_environment(monkeypatch):
    parser_args = ["serve", "--turn-url", "turn:127.0.0.1:3478?transport=udp"]
    monkeypatch.delenv("HUDDLE_TURN_SECRET", raising=False)
    with pytest.raises(SystemExit, match="needs --turn-secret"):
        cli.main(parser_args)
    with pytest.raises(SystemExit, match="--turn-ttl must be positive"):
        cli.main([*parser_args, "--turn-secret", "x", "--turn-ttl", "0"])


async def test_huddle_serve_hands_out_credentials_and_never_logs_the_secret(tmp_path: Path):
    """The real command, secret from HUDDLE_TURN_SECRET, logging at DEBUG to a file."""
    url = "turn:127.0.0.1:3478?transport=udp"
    log = tmp_path / "serve.log"
    server = ServerProcess(
        tmp_path / "data",
        extra_args=["--turn-url", url, "--turn-ttl", "120"],
        env={**os.environ, "HUDDLE_TURN_SECRET": SECRET},
        log_path=log,
        log_level="DEBUG",
    )
    try:
        await server.start()
        async with HuddleClient(server.url, name="A", host_addresses=LOOPBACK) as client:
            joined = await client.join("env")
        (ice_server,) = joined["ice_servers"]
        assert ice_server["urls"] == [url]
        expiry, identity = ice_server["username"].split(":", 1)
        assert identity == client.identity
        assert 100 < int(expiry) - time.time() <= 121
        expected = hmac.new(SECRET.encode(), ice_server["username"].encode(), hashlib.sha1).digest()
        assert base64.b64decode(ice_server["credential"]) == expected
    finally:
        await server.kill()
    text = log.read_text()
    assert "DEBUG" in text
    assert SECRET not in text
