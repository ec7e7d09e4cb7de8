"""Chromium forced to relay-only ICE joins through a real coturn on 127.0.0.1.

Huddle runs with TURN settings, so ``joined.ice_servers`` carries coturn's URL
and fresh credentials; the page passes them to its RTCPeerConnections. The test
(only the test) injects an init script that wraps RTCPeerConnection to set
``iceTransportPolicy: "relay"``, as a browser policy or a corporate network
that leaves nothing but TURN would. The browser's selected candidate pairs
(getStats) are then relay candidates, and video flows both ways with a Python
client that connects directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests import turn_fixtures
from tests.browser.relay import relay_only_call
from tests.conftest import RunningServer
from tests.turn_fixtures import Coturn, huddle_with_turn

coturn = turn_fixtures.coturn


@pytest.fixture
async def server(tmp_path: Path, coturn: Coturn) -> AsyncIterator[RunningServer]:
    """Overrides tests/conftest.py's ``server`` (which ``browsers`` uses) with TURN settings."""
    async with huddle_with_turn(tmp_path, coturn.url) as running:
        yield running


async def test_relay_only_chromium_joins_through_coturn(server, browsers, clients, coturn):
    alice, pairs = await relay_only_call(server, browsers, clients, "relay")
    # Both of the page's connections (publisher and subscriber) use a relay
    # candidate from coturn, and media went through the selected pair.
    for pair in pairs:
        assert pair["policy"] == "relay", pair
        assert coturn.url in pair["urls"], pair
        assert pair["state"] == "connected", pair
        assert pair["local"]["type"] == "relay", pair
        assert pair["local"]["relayProtocol"] == "udp", pair
        assert pair["remote"]["type"] == "host", pair
