"""Browsers in a call: each sees and hears the others; leaving removes the tile everywhere."""

from __future__ import annotations

import asyncio

from tests.browser.conftest import (
    BrowserParticipant,
    eventually,
    published_track,
    wait_published,
)
from tests.conftest import wait_until


async def sees_and_hears(server, room: str, me: BrowserParticipant, other: BrowserParticipant) -> None:
    """``me`` shows ``other``'s camera (its colour, frames rising, its name) and plays its microphone."""
    await wait_published(server, room, other.participant_id, {"camera", "microphone"})
    tile = await me.video_flowing(other.participant_id, colour=other.colour)
    assert tile["local"] != "true"
    assert tile["name"].startswith(other.name), tile
    await me.audio_flowing(published_track(server, room, other.participant_id, "microphone"))


async def test_two_browsers_see_and_hear_each_other(server, browsers):
    alice, bob = await asyncio.gather(browsers("Alice", "pair"), browsers("Bob", "pair"))
    assert alice.participant_id != bob.participant_id
    assert set(server.conference.rooms["pair"].peers) == {alice.participant_id, bob.participant_id}

    await asyncio.gather(
        sees_and_hears(server, "pair", alice, bob), sees_and_hears(server, "pair", bob, alice)
    )
    for me, other in ((alice, bob), (bob, alice)):
        assert await me.remote_tiles() == [other.participant_id]
        own = await me.tile(me.participant_id)
        assert own["present"] and own["local"] == "true", own
        assert await me.huddle("h.room") == "pair"
        assert await me.visible("#call-screen")
        assert not await me.visible("#join-screen")
        assert await me.huddle("h.publisher.connectionState") == "connected"
        assert await me.huddle("h.subscriber.connectionState") == "connected"


async def test_three_browsers_each_show_two_remote_tiles(server, browsers, artifacts):
    people = await asyncio.gather(*(browsers(name, "trio") for name in ("Alice", "Bob", "Carol")))
    ids = {p.participant_id for p in people}
    assert len(ids) == 3

    await asyncio.gather(
        *(sees_and_hears(server, "trio", me, other) for me in people for other in people if other is not me)
    )
    for me in people:
        assert sorted(await me.remote_tiles()) == sorted(ids - {me.participant_id})
        assert len(await me.page.evaluate("() => window.__huddleTest.audioTrackIds()")) == 2
        listed = await me.page.eval_on_selector_all(
            "#people-list li[data-participant-id]", "items => items.map(i => i.dataset.participantId)"
        )
        assert ids - {me.participant_id} <= set(listed), listed

    await people[0].screenshot(artifacts / "three-person-call.png")


async def test_leave_removes_the_tile_everywhere(server, browsers):
    alice, bob, carol = await asyncio.gather(*(browsers(n, "leaving") for n in ("Alice", "Bob", "Carol")))
    await asyncio.gather(
        alice.video_flowing(carol.participant_id, colour=carol.colour),
        bob.video_flowing(carol.participant_id, colour=carol.colour),
    )
    gone = carol.participant_id

    await carol.page.click("#leave-button")

    await carol.page.wait_for_function("() => window.huddle.state === 'left'", timeout=20_000)
    await wait_until(lambda: gone not in server.conference.rooms["leaving"].peers, 10)
    for me in (alice, bob):
        await eventually(
            me.page,
            "p => !document.querySelector(`.tile[data-participant-id='${p}']`) &&"
            " !document.querySelector(`#people-list li[data-participant-id='${p}']`)",
            gone,
            what=f"{me.name} drops Carol's tile and people entry",
        )
        await eventually(
            me.page,
            "() => window.__huddleTest.audioTrackIds().length",
            check=lambda n: n == 1,
            what=f"{me.name} keeps one remote audio element",
        )
    # the two who stayed still see each other
    await alice.video_flowing(bob.participant_id, colour=bob.colour)
    await bob.video_flowing(alice.participant_id, colour=alice.colour)
    assert await carol.huddle("!h.publisher || h.publisher.connectionState === 'closed'")
    assert await carol.huddle("!h.subscriber || h.subscriber.connectionState === 'closed'")
