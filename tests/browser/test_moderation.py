"""What a host does to a browser in a call: mute its tracks, change its grants, remove it, close the room."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page

from huddle_client.synthetic import ColourVideoTrack
from signalling.moderation import Moderation
from signalling.tokens import Grants
from tests.browser.conftest import WAIT, BrowserParticipant, eventually, published_track, wait_published
from tests.browser.test_lobby import sockets
from tests.conftest import token_for, wait_until

INBOUND = """async (kind) => {
    const pc = window.huddle.subscriber;
    if (!pc || pc.connectionState === 'closed') return null;
    let packets = 0, frames = 0;
    (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === kind) {
            packets += s.packetsReceived || 0;
            frames += s.framesDecoded || 0;
        }
    });
    return {packets, frames};
}"""


async def join(browsers, server, name: str, room: str, identity: str, grants: Grants | None = None):
    person = await browsers(name, room, join=False)
    await person.goto(server, room, token=token_for(server, room, identity, name, grants=grants))
    await person.wait_joined()
    return person


async def inbound(page: Page, kind: str) -> dict:
    return await page.evaluate(INBOUND, kind)


async def stops(page: Page, kind: str, what: str, settle: float = 1.5, window: float = 1.0) -> None:
    """``kind`` media into ``page`` stops: after ``settle`` s, nothing new arrives for ``window`` s."""
    await asyncio.sleep(settle)
    before = await inbound(page, kind)
    await asyncio.sleep(window)
    after = await inbound(page, kind)
    assert before and after == before, f"{what}: still arriving ({before} -> {after})"


async def rises(page: Page, kind: str, what: str) -> None:
    first = await inbound(page, kind)
    await eventually(page, INBOUND, kind, lambda s: s and s["packets"] > first["packets"] + 20, what=what)


async def toast(person: BrowserParticipant, text: str) -> None:
    await eventually(
        person.page,
        "() => document.getElementById('toasts').textContent",
        check=lambda shown: text in shown,
        what=f"{person.name} is told '{text}'",
    )


async def pressed(person: BrowserParticipant, button: str, value: str) -> None:
    await person.page.wait_for_selector(f"#{button}[aria-pressed='{value}']", timeout=WAIT * 1000)


async def test_host_mutes_microphone_and_camera_and_the_user_turns_the_microphone_back_on(server, browsers):
    room = "muting"
    alice, bob = await asyncio.gather(
        join(browsers, server, "Alice", room, "alice"), join(browsers, server, "Bob", room, "bob")
    )
    await wait_published(server, room, alice.participant_id, {"camera", "microphone"})
    mic = published_track(server, room, alice.participant_id, "microphone")
    camera = published_track(server, room, alice.participant_id, "camera")
    await bob.video_flowing(alice.participant_id, colour=alice.colour)
    await bob.audio_flowing(mic)
    moderation = Moderation(server.conference)

    moderation.mute_track(room, "alice", mic)

    await pressed(alice, "mic-button", "false")
    await toast(alice, "A host muted your microphone")
    assert await alice.huddle("h.call.micMuted && !h.call.local.microphone.enabled")
    await stops(bob.page, "audio", "Bob still receives Alice's microphone")
    tile = await bob.tile(alice.participant_id)
    assert tile["micMuted"] == "true", tile

    # Unmuting is Alice's own choice, and works as usual.
    await alice.page.click("#mic-button")
    await pressed(alice, "mic-button", "true")
    peer = server.conference.rooms[room].peers[alice.participant_id]
    await wait_until(lambda: not peer.tracks[mic].muted, WAIT)
    await rises(bob.page, "audio", "Bob hears Alice again")

    moderation.mute_track(room, "alice", camera)

    await pressed(alice, "camera-button", "false")
    await toast(alice, "A host turned off your camera")
    assert await alice.huddle("h.call.cameraOff && h.call.local.camera === null"), "the camera is released"
    await stops(bob.page, "video", "Bob still receives Alice's camera")
    assert peer.tracks[camera].muted
    assert await alice.huddle("h.state") == "joined" and await bob.huddle("h.state") == "joined"


async def test_grants_change_live_then_a_kick_and_a_room_close_end_the_call(server, browsers):
    room = "granting"
    alice, bob, viewer = await asyncio.gather(
        join(browsers, server, "Alice", room, "alice", Grants(admin=True)),
        join(browsers, server, "Bob", room, "bob"),
        join(browsers, server, "Vera", room, "vera", Grants(publish=frozenset())),
    )
    bob_sockets = sockets(bob.page)  # from now on: a reconnect would open a new one

    # A viewer's token: nothing published, devices released, controls disabled; it still sees.
    await viewer.video_flowing(alice.participant_id, colour=alice.colour)
    assert not server.conference.rooms[room].peers[viewer.participant_id].tracks
    assert await viewer.huddle(
        "h.grants.publish.length === 0 && !h.call.local.camera && !h.call.local.microphone"
    )
    for button in ("mic-button", "camera-button", "screen-button"):
        assert await viewer.page.is_disabled(f"#{button}"), button
        assert await viewer.page.get_attribute(f"#{button}", "data-allowed") == "false"
    assert await viewer.huddle("h.publisher.getTransceivers().length") == 0, "the viewer offers no media"

    moderation = Moderation(server.conference)
    await bob.open_chat()
    assert await bob.page.is_enabled("#chat-input")

    await moderation.update_grants(room, "bob", {"data": False})

    await bob.page.wait_for_selector("#chat-input:disabled", timeout=WAIT * 1000)
    assert await bob.visible("#chat-disabled")
    assert "turned off chat" in await bob.page.text_content("#chat-disabled")
    assert await bob.huddle("h.grants.data") is False

    await wait_published(server, room, bob.participant_id, {"camera", "microphone"})
    await alice.video_flowing(bob.participant_id, colour=bob.colour)
    await moderation.update_grants(room, "bob", {"publish": ["microphone"]})

    await bob.page.wait_for_selector("#camera-button:disabled", timeout=WAIT * 1000)
    assert await bob.page.get_attribute("#camera-button", "data-allowed") == "false"
    assert await bob.page.is_enabled("#mic-button")
    assert await bob.huddle("h.call.local.camera === null"), "the withdrawn camera is released"
    await eventually(
        bob.page,
        "() => window.huddle.publisher.getTransceivers()"
        ".filter(t => t.currentDirection === 'inactive').length",
        check=lambda n: n == 1,
        what="Bob's camera m-line goes inactive (renegotiated, not refused)",
    )
    sources = {t.info.source for t in server.conference.rooms[room].peers[bob.participant_id].tracks.values()}
    assert sources == {"microphone"}, sources
    await eventually(
        alice.page,
        "p => window.__huddleTest.tile(p).then(t => t.cameraOff)",
        bob.participant_id,
        check=lambda off: off == "true",
        what="Alice shows Bob's camera off",
    )
    assert await bob.huddle("h.state") == "joined" and len(bob_sockets) == 0, "no reconnect"

    # Granted again: the camera stays off until Bob turns it on; then Alice sees it.
    await moderation.update_grants(room, "bob", {"publish": ["microphone", "camera"]})
    await bob.page.wait_for_selector("#camera-button:enabled", timeout=WAIT * 1000)
    await pressed(bob, "camera-button", "false")
    await bob.page.click("#camera-button")
    await pressed(bob, "camera-button", "true")
    await alice.video_flowing(bob.participant_id, colour=bob.colour)
    assert await bob.huddle("h.state") == "joined" and len(bob_sockets) == 0, "no reconnect"

    await moderation.kick(room, "bob")

    await bob.page.wait_for_selector("#join-screen", state="visible", timeout=WAIT * 1000)
    assert not await bob.visible("#call-screen")
    assert "removed" in await bob.page.text_content("#join-error")
    assert await bob.huddle("[h.state, h.endReason]") == ["failed", "kicked"]
    await asyncio.sleep(2.5)
    assert bob_sockets == [], "the removed page reconnected"
    assert server.conference.peer_by_identity(room, "bob") is None
    await eventually(
        alice.page,
        "p => !document.querySelector(`.tile[data-participant-id='${p}']`)",
        bob.participant_id,
        what="Alice drops Bob's tile",
    )

    await server.conference.close_room(room, "the meeting is over")

    for person in (alice, viewer):
        await person.page.wait_for_selector("#join-screen", state="visible", timeout=WAIT * 1000)
        assert "closed this room" in await person.page.text_content("#join-error")
        assert await person.huddle("h.endReason") == "room_closed"


SLOW_OFFERS = """() => {
    const original = RTCPeerConnection.prototype.setRemoteDescription;
    RTCPeerConnection.prototype.setRemoteDescription = async function (...args) {
        await new Promise((resolve) => setTimeout(resolve, 1500));
        return original.apply(this, args);
    };
}"""


async def test_a_busy_page_still_hears_that_the_room_closed(server, browsers, clients):
    """room_closed arrives while the page is still handling an earlier message, and the socket
    closes right behind it: the page must handle it (back to the join screen), not reconnect."""
    room = "busy"
    alice = await join(browsers, server, "Alice", room, "alice")
    busy = sockets(alice.page)
    await alice.page.evaluate(SLOW_OFFERS)
    publisher = clients("Publisher")
    await publisher.join(room)
    await publisher.publish([(ColourVideoTrack((200, 200, 0)), "camera")])  # Alice: a slow offer

    await server.conference.close_room(room, "the meeting is over")

    await alice.page.wait_for_selector("#join-screen", state="visible", timeout=WAIT * 1000)
    assert await alice.huddle("h.endReason") == "room_closed"
    await asyncio.sleep(2.5)
    assert busy == [], "the page reconnected instead of ending"
    assert room not in server.conference.rooms
