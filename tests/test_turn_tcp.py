"""TURN over TCP: a relay-only client whose only ICE server is ``turn:...?transport=tcp``.

The client reaches coturn (tests/turn_fixtures.py, on 127.0.0.1) over TCP; coturn
relays to the SFU over UDP as usual. This is what a client behind a firewall
that lets TCP out but drops UDP depends on (tests/test_udp_blocked.py drops UDP
for real).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from huddle_client.synthetic import ColourVideoTrack
from tests import turn_fixtures
from tests.conftest import RunningServer
from tests.media_checks import close_to, video_colour
from tests.turn_fixtures import Coturn, exchange_video, huddle_with_turn, nominated_pair, relayed_and_direct

coturn = turn_fixtures.coturn


@pytest.fixture
async def tcp_turn_server(tmp_path: Path, coturn: Coturn) -> AsyncIterator[RunningServer]:
    async with huddle_with_turn(tmp_path, coturn.tcp_url) as running:
        yield running


async def test_relay_only_client_over_turn_tcp_exchanges_media(tcp_turn_server, coturn):
    async with relayed_and_direct(tcp_turn_server.url) as (relayed, direct):
        joined = await relayed.join("tcp")
        (ice_server,) = joined["ice_servers"]
        assert ice_server["urls"] == [f"turn:127.0.0.1:{coturn.port}?transport=tcp"]
        sender, receiver = await exchange_video(relayed, direct, "tcp")

        # Both of the relayed client's connections go through coturn, over TCP.
        for owner in (sender, receiver):
            connection, pair = nominated_pair(owner)
            assert pair.local_candidate.type == "relay"
            assert connection.turn_transport == "tcp"
            # The relayed address is coturn's, the remote one the SFU's.
            assert pair.local_candidate.host == "127.0.0.1"
            assert pair.remote_candidate.type == "host"


async def test_relay_only_client_joining_a_call_in_progress_subscribes_through_turn(tcp_turn_server, coturn):
    """The server sends subscribe_offer right after "joined"; the subscriber connection
    that offer creates must already have the TURN server. (It used to race join():
    tests/test_udp_blocked.py failed about half its runs; on loopback here the race
    rarely shows, so this checks the configuration directly.)"""
    async with relayed_and_direct(tcp_turn_server.url) as (relayed, direct):
        await direct.join("late")
        await direct.publish([(ColourVideoTrack((0, 200, 0)), "camera")])
        await relayed.join("late")
        (track,) = await relayed.wait_for_tracks(1, timeout=20)
        configured = relayed._subscriber._RTCPeerConnection__configuration.iceServers  # noqa: SLF001
        assert [server.urls for server in configured] == [[coturn.tcp_url]]
        assert close_to(await video_colour(track, timeout=20), (0, 200, 0))
        connection, pair = nominated_pair(track.receiver)
        assert (pair.local_candidate.type, connection.turn_transport) == ("relay", "tcp")
