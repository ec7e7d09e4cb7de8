"""The server drops a browser's WebSocket: the page shows the banner, rejoins, media flows again."""

from __future__ import annotations

import asyncio

from signalling.tokens import CLOCK_LEEWAY
from tests.browser.conftest import eventually, published_track, wait_published
from tests.conftest import token_expired, token_for, wait_until


async def test_page_reconnects_by_itself_after_the_server_drops_its_socket(server, browsers):
    alice, bob = await asyncio.gather(browsers("Alice", "flaky"), browsers("Bob", "flaky"))
    await asyncio.gather(
        bob.video_flowing(alice.participant_id, colour=alice.colour),
        alice.video_flowing(bob.participant_id, colour=bob.colour),
    )
    old = alice.participant_id

    server.conference.rooms["flaky"].peers[old].disconnect("dropped by the test")

    await eventually(
        alice.page,
        "() => window.__huddleTest.bannerHistory",
        check=lambda history: any(e["state"] == "reconnecting" and e["visible"] for e in history),
        what="Alice's page shows the reconnecting banner",
    )
    await alice.page.wait_for_function(
        "old => window.huddle.state === 'joined' && (window.huddle.participantId || old) !== old",
        arg=old,
        timeout=30_000,
    )
    new = await alice.wait_joined()
    await eventually(
        alice.page,
        "() => [document.getElementById('banner').dataset.state, window.__huddleTest.visible('#banner')]",
        check=lambda banner: banner == ["ok", False],
        what="the banner goes once rejoined",
    )
    await wait_until(lambda: set(server.conference.rooms["flaky"].peers) == {new, bob.participant_id}, 10)

    # media flows again, both ways, and Bob keeps no tile of the old connection
    await wait_published(server, "flaky", new, {"camera", "microphone"})
    await bob.video_flowing(new, colour=alice.colour)
    await bob.audio_flowing(published_track(server, "flaky", new, "microphone"))
    await alice.video_flowing(bob.participant_id, colour=bob.colour)
    await eventually(
        bob.page,
        TILE_GONE,
        old,
        what="Bob drops the tile of Alice's old connection",
    )
    assert await bob.remote_tiles() == [new]


TILE_GONE = "p => !document.querySelector(`.tile[data-participant-id='${p}']`)"


async def test_page_rejoins_with_its_reconnect_token_after_its_link_token_expired(server, browsers):
    # The link's token expires a few seconds after the join (inside the clock leeway now).
    token = token_for(server, "brief", "dora", "Dora", ttl=-(CLOCK_LEEWAY - 4))
    dora = await browsers("Dora", "brief", join=False)
    await dora.goto(server, "brief", token=token)
    old = await dora.wait_joined()
    await wait_until(lambda: token_expired(server, token), timeout=10)

    server.conference.rooms["brief"].peers[old].disconnect("dropped by the test")
    await dora.page.wait_for_function(
        "old => window.huddle.state === 'joined' && (window.huddle.participantId || old) !== old",
        arg=old,
        timeout=30_000,
    )
    new = await dora.wait_joined()
    assert server.conference.rooms["brief"].peers[new].identity == "dora"
