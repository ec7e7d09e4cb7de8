"""Call controls seen from the other side: mute, camera off, screen share."""

from __future__ import annotations

import asyncio

from tests.browser.conftest import published_track, wait_published
from tests.conftest import wait_until


def server_muted(server, room: str, participant_id: str, source: str) -> bool:
    peer = server.conference.rooms[room].peers[participant_id]
    return any(t.muted for t in peer.tracks.values() if t.info.source == source)


async def test_mute_and_camera_off_are_shown_to_the_others_and_undone(server, browsers):
    alice, bob = await asyncio.gather(browsers("Alice", "quiet"), browsers("Bob", "quiet"))
    await bob.video_flowing(alice.participant_id, colour=alice.colour)
    tile = await bob.tile(alice.participant_id)
    assert (tile["micMuted"], tile["cameraOff"]) == ("false", "false"), tile
    pressed = "s => document.querySelector(s).getAttribute('aria-pressed')"
    mic_pressed = await alice.page.evaluate(pressed, "#mic-button")
    camera_pressed = await alice.page.evaluate(pressed, "#camera-button")

    await alice.page.click("#mic-button")
    await bob.wait_tile(alice.participant_id, lambda t: t.get("micMuted") == "true", "mic muted")
    await wait_until(lambda: server_muted(server, "quiet", alice.participant_id, "microphone"), 10)
    await alice.page.click("#camera-button")
    await bob.wait_tile(
        alice.participant_id,
        lambda t: t.get("cameraOff") == "true" and t.get("micMuted") == "true",
        "camera off (mic still muted)",
    )
    assert await alice.page.evaluate(pressed, "#mic-button") != mic_pressed, "aria-pressed toggles"
    assert await alice.page.evaluate(pressed, "#camera-button") != camera_pressed

    await alice.page.click("#mic-button")
    await alice.page.click("#camera-button")
    await bob.wait_tile(
        alice.participant_id,
        lambda t: t.get("cameraOff") == "false" and t.get("micMuted") == "false",
        "unmuted and camera back on",
    )
    await wait_until(lambda: not server_muted(server, "quiet", alice.participant_id, "microphone"), 10)
    assert await alice.page.evaluate(pressed, "#mic-button") == mic_pressed
    # picture and sound are back
    await bob.video_flowing(alice.participant_id, colour=alice.colour)
    await bob.audio_flowing(published_track(server, "quiet", alice.participant_id, "microphone"))


async def test_screen_share_reaches_the_other_browser_as_its_own_tile(server, browsers):
    # getDisplayMedia works in headless Chromium here (--auto-select-desktop-capture-source);
    # no stand-in track is needed.
    alice, bob = await asyncio.gather(browsers("Alice", "share"), browsers("Bob", "share"))
    await bob.video_flowing(alice.participant_id, colour=alice.colour)

    await alice.page.click("#screen-button")
    await wait_published(server, "share", alice.participant_id, {"screen"})
    screen = await bob.video_flowing(alice.participant_id, kind="screen")
    assert screen["videoWidth"] > 160, "the screen, not the 160x120 camera"
    assert screen["local"] != "true"
    assert await bob.remote_tiles("screen") == [alice.participant_id]
    assert await bob.remote_tiles("camera") == [alice.participant_id]
    await bob.video_flowing(alice.participant_id, kind="camera", colour=alice.colour)

    await alice.page.click("#screen-button")  # stop sharing
    await bob.wait_tile(
        alice.participant_id,
        lambda t: not t["present"],
        "the screen tile goes when sharing stops",
        kind="screen",
    )
    sharer = server.conference.rooms["share"].peers[alice.participant_id]
    await wait_until(lambda: all(t.info.source != "screen" for t in sharer.tracks.values()), 10)
    await bob.video_flowing(alice.participant_id, kind="camera", colour=alice.colour)
