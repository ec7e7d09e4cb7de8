"""The lobby in the browser: joiners wait with nothing, the host admits or rejects by click."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page

from signalling.rooms import RoomOptions
from signalling.tokens import Grants
from tests.browser.conftest import WAIT, BrowserParticipant, eventually
from tests.conftest import token_for, wait_until

ROOM = "lobby-room"
JOIN_TIMEOUT_S = 10.0  # static/call.js JOIN_TIMEOUT_MS: a waiting page must outlast it


def sockets(page: Page) -> list[dict]:
    """Every signalling WebSocket the page opens, with whether it has closed."""
    seen: list[dict] = []

    def opened(ws) -> None:
        entry = {"url": ws.url, "closed": False}
        seen.append(entry)
        ws.on("close", lambda _: entry.update(closed=True))

    page.on("websocket", opened)
    return seen


async def waiting(person: BrowserParticipant) -> str:
    """Wait until ``person`` shows the waiting screen; returns its (lobby) participant id."""
    seen = await eventually(
        person.page,
        "() => ({lobby: window.huddle.lobby, state: window.huddle.state,"
        " screen: window.__huddleTest.visible('#lobby-screen')})",
        check=lambda s: s["lobby"] is not None and s["screen"],
        what=f"{person.name} waits in the lobby",
    )
    assert seen["state"] == "joining", seen
    return seen["lobby"]["participantId"]


async def gets_nothing(person: BrowserParticipant) -> None:
    """A waiting page has no peer connections, no tiles, no chat, and no call view."""
    state = await person.page.evaluate(
        """() => ({
            publisher: window.huddle.publisher, subscriber: window.huddle.subscriber,
            tiles: document.querySelectorAll('.tile:not([data-local="true"])').length,
            chat: document.querySelectorAll('#chat-messages .chat-message').length,
            audio: document.querySelectorAll('audio[data-track-id]').length,
            call: window.__huddleTest.visible('#call-screen'),
            join: window.__huddleTest.visible('#join-screen'),
            heading: document.getElementById('lobby-heading').textContent,
            room: document.getElementById('lobby-room').textContent,
        })"""
    )
    assert state == {
        "publisher": None,
        "subscriber": None,
        "tiles": 0,
        "chat": 0,
        "audio": 0,
        "call": False,
        "join": False,
        "heading": "Waiting for the host to let you in",
        "room": ROOM,
    }, state


async def test_host_admits_one_by_click_and_rejects_another(server, browsers, artifacts):
    server.conference.create_room(ROOM, RoomOptions(lobby=True, empty_timeout=60))
    host, guest, stranger = await asyncio.gather(
        *(browsers(name, ROOM, join=False) for name in ("Host", "Guest", "Stranger <b>x</b>"))
    )
    stranger_sockets = sockets(stranger.page)

    await host.goto(server, ROOM, token=token_for(server, ROOM, "host", "Host", grants=Grants(admin=True)))
    await host.wait_joined()
    await asyncio.gather(
        guest.goto(server, ROOM, token=token_for(server, ROOM, "guest", "Guest")),
        stranger.goto(server, ROOM, token=token_for(server, ROOM, "stranger", "Stranger <b>x</b>")),
    )
    started = asyncio.get_running_loop().time()
    guest_id, stranger_id = await asyncio.gather(waiting(guest), waiting(stranger))
    room = server.conference.rooms[ROOM]
    assert set(room.lobby) == {guest_id, stranger_id} and set(room.peers) == {host.participant_id}

    # The host sees both waiting, by name as text, with a count on the people button.
    await host.wait_count("#lobby-badge", 2, "the host's waiting count")
    assert "2 waiting" in await host.page.get_attribute("#people-button", "aria-label")

    # Chat in the room while they wait reaches neither of them.
    await host.send_chat("said before anyone was let in")
    await host.wait_chat(lambda ms: len(ms) == 1 and ms[0]["id"], "the host's message is stored")
    await gets_nothing(guest)
    await gets_nothing(stranger)

    await host.page.click("#people-button")
    await host.page.wait_for_selector("#lobby-panel", state="visible", timeout=WAIT * 1000)
    entries = await host.page.eval_on_selector_all(
        "#lobby-list li[data-participant-id]",
        "items => items.map(i => [i.dataset.participantId, i.querySelector('.lobby-name').textContent,"
        " i.querySelectorAll('b').length])",
    )
    assert sorted(entries) == sorted([[guest_id, "Guest", 0], [stranger_id, "Stranger <b>x</b>", 0]])

    await host.page.set_viewport_size({"width": 390, "height": 844})
    await host.screenshot(artifacts / "lobby-admin-panel.png")
    await guest.page.set_viewport_size({"width": 390, "height": 844})
    await guest.screenshot(artifacts / "lobby-waiting.png")
    await host.page.set_viewport_size({"width": 1280, "height": 720})

    # Longer than the page's join timeout: still waiting, still nothing.
    await asyncio.sleep(max(0.0, JOIN_TIMEOUT_S + 1.5 - (asyncio.get_running_loop().time() - started)))
    for person in (guest, stranger):
        await waiting(person)
        await gets_nothing(person)
    assert set(room.lobby) == {guest_id, stranger_id}

    # Reject the stranger with the keyboard, admit the guest by click.
    reject = f"#lobby-list li[data-participant-id='{stranger_id}'] button.lobby-reject"
    await host.page.focus(reject)
    await host.page.keyboard.press("Enter")
    await stranger.page.wait_for_selector("#join-screen", state="visible", timeout=WAIT * 1000)
    assert "declined" in await stranger.page.text_content("#join-error")
    assert not await stranger.visible("#lobby-screen")
    assert await stranger.huddle("[h.state, h.endReason, h.lobby]") == ["failed", "lobby_rejected", None]
    await wait_until(lambda: all(s["closed"] for s in stranger_sockets), WAIT)

    await host.page.click(f"#lobby-list li[data-participant-id='{guest_id}'] button.lobby-admit")
    assert await guest.wait_joined() == guest_id
    await asyncio.gather(
        guest.video_flowing(host.participant_id, colour=host.colour),
        host.video_flowing(guest_id, colour=guest.colour),
    )
    assert await guest.visible("#call-screen") and not await guest.visible("#lobby-screen")
    await guest.open_chat()
    await guest.wait_chat(
        lambda ms: [m["text"] for m in ms] == ["said before anyone was let in"],
        "the admitted guest gets the room's history",
    )
    await eventually(
        host.page,
        "() => [document.getElementById('lobby-badge').hidden, window.__huddleTest.visible('#lobby-panel')]",
        check=lambda s: s == [True, False],
        what="the host's waiting list empties",
    )

    # The rejected page does not come back by itself.
    opened = len(stranger_sockets)
    await asyncio.sleep(2.5)
    assert len(stranger_sockets) == opened, "the rejected page reconnected"
    assert server.conference.peer_by_identity(ROOM, "stranger") is None
    assert await stranger.huddle("h.state") == "failed"
    assert set(room.peers) == {host.participant_id, guest_id} and not room.lobby


async def test_cancel_while_waiting_leaves_the_lobby(server, browsers):
    server.conference.create_room("cancel-room", RoomOptions(lobby=True, empty_timeout=60))
    guest = await browsers("Guest", "cancel-room", join=False)
    await guest.goto(server, "cancel-room", token=token_for(server, "cancel-room", "guest2", "Guest"))
    guest_id = await waiting(guest)
    assert guest_id in server.conference.rooms["cancel-room"].lobby

    await guest.page.click("#lobby-cancel")

    await guest.page.wait_for_selector("#join-screen", state="visible", timeout=WAIT * 1000)
    assert await guest.huddle("h.state") == "left"
    assert "stopped waiting" in await guest.page.text_content("#join-notice")
    await wait_until(lambda: guest_id not in server.conference.rooms["cancel-room"].lobby, WAIT)
