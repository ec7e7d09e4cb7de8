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

from huddle_client.synthetic import ColourVideoTrack
from tests import turn_fixtures
from tests.browser.conftest import close_to, eventually, wait_published
from tests.browser.relay import FORCE_RELAY, SELECTED_PAIRS
from tests.conftest import RunningServer
from tests.media_checks import tracks_by_sender, video_colour
from tests.turn_fixtures import Coturn, huddle_with_turn

coturn = turn_fixtures.coturn

BOT_COLOUR = (30, 200, 210)  # cyan: none of the browsers' colours


@pytest.fixture
async def server(tmp_path: Path, coturn: Coturn) -> AsyncIterator[RunningServer]:
    """Overrides tests/conftest.py's ``server`` (which ``browsers`` uses) with TURN settings."""
    async with huddle_with_turn(tmp_path, coturn.url) as running:
        yield running


async def test_relay_only_chromium_joins_through_coturn(server, browsers, clients, coturn):
    bot = clients("Bot")
    await bot.join("relay")
    await bot.publish([(ColourVideoTrack(BOT_COLOUR), "camera")])

    alice = await browsers("Alice", "relay", join=False)
    await alice.context.add_init_script(script=FORCE_RELAY)
    await alice.goto(server, "relay")
    await alice.wait_joined()

    # The browser shows the Python client's camera ...
    await alice.video_flowing(bot.participant_id, colour=BOT_COLOUR)
    # ... and the Python client decodes the browser's.
    await wait_published(server, "relay", alice.participant_id, {"camera"})
    await bot.wait_for_tracks(1, timeout=20)
    colour = await video_colour(tracks_by_sender(bot)[(alice.participant_id, "video")], timeout=20)
    assert close_to(colour, alice.colour), colour

    # Both of the page's connections (publisher and subscriber) use a relay
    # candidate from coturn, and media went through the selected pair.
    pairs = await eventually(
        alice.page,
        SELECTED_PAIRS,
        None,
        lambda ps: len(ps) >= 2 and all(p["local"] and p["bytes"] > 0 for p in ps),
        what="Alice's selected candidate pairs",
    )
    for pair in pairs:
        assert pair["policy"] == "relay", pair
        assert coturn.url in pair["urls"], pair
        assert pair["state"] == "connected", pair
        assert pair["local"]["type"] == "relay", pair
        assert pair["local"]["relayProtocol"] == "udp", pair
        assert pair["remote"]["type"] == "host", pair
