"""Call controls for keyboard and screen-reader users, the active speaker, the invite link,
and a call on a phone-sized screen."""

from __future__ import annotations

import asyncio

from tests.browser.conftest import WAIT, BrowserParticipant, eventually, published_track, wait_published

CONTROLS = [
    "mic-button",
    "camera-button",
    "screen-button",
    "chat-button",
    "people-button",
    "invite-button",
    "leave-button",
]

# What shows focus on an element: its outline and box-shadow.
FOCUS_STYLE = """(id) => {
  const el = id ? document.getElementById(id) : document.activeElement;
  const s = getComputedStyle(el);
  return {id: el.id, focusVisible: el.matches(":focus-visible"), outlineStyle: s.outlineStyle,
          outlineWidth: parseFloat(s.outlineWidth) || 0, outlineColor: s.outlineColor,
          boxShadow: s.boxShadow};
}"""

PRESSED = f"""() => Object.fromEntries({CONTROLS}.map((id) =>
  [id, document.getElementById(id).getAttribute("aria-pressed")]))"""

SPEAKING = """(ids) => Object.fromEntries(ids.map((p) => {
  const tile = document.querySelector(`.tile[data-kind="camera"][data-participant-id="${CSS.escape(p)}"]`);
  return [p, tile ? tile.classList.contains("speaking") : null];
}))"""


def shows_focus(focused: dict, unfocused: dict) -> bool:
    outline = focused["outlineStyle"] != "none" and focused["outlineWidth"] > 0
    outline_changed = (focused["outlineStyle"], focused["outlineWidth"], focused["outlineColor"]) != (
        unfocused["outlineStyle"],
        unfocused["outlineWidth"],
        unfocused["outlineColor"],
    )
    shadow = focused["boxShadow"] not in ("none", unfocused["boxShadow"])
    return (outline and outline_changed) or shadow


async def pair(server, browsers, room: str) -> tuple[BrowserParticipant, BrowserParticipant]:
    alice, bob = await asyncio.gather(browsers("Alice", room), browsers("Bob", room))
    await asyncio.gather(
        wait_published(server, room, alice.participant_id, {"camera", "microphone"}),
        wait_published(server, room, bob.participant_id, {"camera", "microphone"}),
    )
    await asyncio.gather(
        bob.video_flowing(alice.participant_id, colour=alice.colour),
        alice.video_flowing(bob.participant_id, colour=bob.colour),
    )
    return alice, bob


async def marks_seen(viewer: BrowserParticipant, of: str, mic_muted: str, camera_off: str, what: str) -> None:
    await viewer.wait_tile(
        of, lambda t: t["present"] and t["micMuted"] == mic_muted and t["cameraOff"] == camera_off, what
    )


async def check_names_and_focus(alice: BrowserParticipant) -> None:
    page = alice.page
    names = await page.evaluate(
        "ids => Object.fromEntries(ids.map((id) =>"
        " [id, (document.getElementById(id).getAttribute('aria-label') || '').trim()]))",
        CONTROLS,
    )
    assert all(names.values()), f"every control has an accessible name: {names}"

    await page.mouse.move(0, 0)  # no hover styles
    await page.evaluate("() => document.activeElement?.blur()")
    unfocused = {id_: await page.evaluate(FOCUS_STYLE, id_) for id_ in CONTROLS}
    focused: dict[str, dict] = {}
    for _ in range(40):  # Tab through the page until every control had the focus
        await page.keyboard.press("Tab")
        now = await page.evaluate(FOCUS_STYLE, None)
        if now["id"] in CONTROLS:
            focused.setdefault(now["id"], now)
        if len(focused) == len(CONTROLS):
            break
    assert set(focused) == set(CONTROLS), f"Tab reaches every control; reached {sorted(focused)}"
    for id_ in CONTROLS:
        assert focused[id_]["focusVisible"], f"#{id_} matches :focus-visible after Tab"
        assert shows_focus(focused[id_], unfocused[id_]), (
            f"#{id_} shows a visible focus indicator: focused {focused[id_]} vs unfocused {unfocused[id_]}"
        )
    await page.evaluate("() => document.activeElement?.blur()")


async def check_shortcuts(server, room: str, alice: BrowserParticipant, bob: BrowserParticipant) -> None:
    page, a = alice.page, alice.participant_id
    start = await page.evaluate(PRESSED)
    assert start["mic-button"] == "true" and start["camera-button"] == "true", start
    assert start["chat-button"] == "false" and start["people-button"] == "false", start

    async def pressed_after(key: str, id_: str, value: str) -> None:
        await page.keyboard.press(key)
        await page.wait_for_function(
            "([id, v]) => document.getElementById(id).getAttribute('aria-pressed') === v",
            arg=[id_, value],
            timeout=WAIT * 1000,
        )

    # M: mic off, seen by Bob; while Alice is muted, Bob (still sending his tone) is the speaker.
    await pressed_after("m", "mic-button", "false")
    await marks_seen(bob, a, "true", "false", "Bob sees Alice muted after M")
    await check_active_speaker(alice, bob)
    await pressed_after("m", "mic-button", "true")
    await marks_seen(bob, a, "false", "false", "Bob sees Alice unmuted after M again")

    # V: camera off and on again
    await pressed_after("v", "camera-button", "false")
    await marks_seen(bob, a, "false", "true", "Bob sees Alice's camera off after V")
    await pressed_after("v", "camera-button", "true")
    await marks_seen(bob, a, "false", "false", "Bob sees Alice's camera on after V again")
    await bob.video_flowing(a, colour=alice.colour)

    # P: people panel open and closed
    await pressed_after("p", "people-button", "true")
    await page.wait_for_selector("#people-panel", state="visible", timeout=WAIT * 1000)
    await pressed_after("p", "people-button", "false")
    await page.wait_for_selector("#people-panel", state="hidden", timeout=WAIT * 1000)

    # C: chat panel opens (and takes the focus into its input) ...
    await pressed_after("c", "chat-button", "true")
    await page.wait_for_selector("#chat-panel", state="visible", timeout=WAIT * 1000)
    await page.focus("#chat-input")
    before = await page.evaluate(PRESSED)
    # ... where the shortcut letters are just text
    await page.keyboard.type("mvcp MVCP")
    assert await page.input_value("#chat-input") == "mvcp MVCP"
    assert await page.evaluate(PRESSED) == before, "no shortcut fired while typing in #chat-input"
    assert await alice.visible("#chat-panel") and not await alice.visible("#people-panel")
    await page.keyboard.press("Enter")
    await bob.wait_chat(lambda m: any(x["text"] == "mvcp MVCP" for x in m), "Bob gets the typed message")
    await marks_seen(bob, a, "false", "false", "Alice still unmuted with her camera on after typing")
    tracks = server.conference.rooms[room].peers[a].tracks.values()
    assert tracks and not any(t.muted for t in tracks), "the server saw no mute from the typed letters"
    # C closes the panel again once the focus has left the input (Tab to the send button)
    await page.keyboard.press("Tab")
    assert await page.evaluate("() => document.activeElement.id") != "chat-input"
    await pressed_after("c", "chat-button", "false")
    await page.wait_for_selector("#chat-panel", state="hidden", timeout=WAIT * 1000)


async def check_active_speaker(alice: BrowserParticipant, bob: BrowserParticipant) -> None:
    """Alice is muted, Bob still plays his tone: Alice's page highlights Bob, never herself."""
    a, b = alice.participant_id, bob.participant_id
    await eventually(
        alice.page,
        SPEAKING,
        [a, b],
        lambda s: s[b] is True and s[a] is False,
        what="Alice (muted) sees Bob's tile as the active speaker and not her own",
    )
    await eventually(
        bob.page,
        SPEAKING,
        [a, b],
        lambda s: s[a] is False,
        what="Bob's page does not highlight muted Alice",
    )


async def test_controls_are_named_focusable_keyboard_driven_and_copy_the_invite(server, browsers):
    room = "keyboard"
    alice, bob = await pair(server, browsers, room)
    await alice.audio_flowing(published_track(server, room, bob.participant_id, "microphone"))

    await check_names_and_focus(alice)
    await check_shortcuts(server, room, alice, bob)
    await alice.copy_invite(server.url, f"{server.url}/r/{room}")


# Where the tiles and controls are, whether they are visible and not covered (the element at
# their centre is theirs), and whether the page scrolls sideways.
PHONE_LAYOUT = """(ids) => {
  const about = (el) => {
    const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return {
      left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height,
      visible: el.checkVisibility({visibilityProperty: true, opacityProperty: true}),
      onTop: Boolean(hit && el.contains(hit)),
    };
  };
  return {
    scrollWidth: document.scrollingElement.scrollWidth, innerWidth, innerHeight,
    tiles: [...document.querySelectorAll("#tiles .tile")]
      .map((t) => ({id: t.dataset.participantId, ...about(t)})),
    controls: ids.map((id) => ({id, ...about(document.getElementById(id))})),
  };
}"""


def on_screen(item: dict, layout: dict) -> bool:
    return (
        item["visible"]
        and item["width"] > 0
        and item["height"] > 0
        and item["left"] >= 0
        and item["top"] >= 0
        and item["right"] <= layout["innerWidth"]
        and item["bottom"] <= layout["innerHeight"]
    )


async def test_phone_width_call_fits_without_horizontal_scrolling(server, browsers, artifacts):
    room = "phone"
    alice, bob = await asyncio.gather(browsers("Alice", room, join=False), browsers("Bob", room))
    await alice.page.set_viewport_size({"width": 390, "height": 844})
    await alice.goto(server, room)
    await alice.wait_joined()
    await alice.video_flowing(bob.participant_id, colour=bob.colour)
    ids = {alice.participant_id, bob.participant_id}

    layout = await eventually(
        alice.page,
        PHONE_LAYOUT,
        CONTROLS,
        lambda lay: {t["id"] for t in lay["tiles"]} == ids and all(on_screen(t, lay) for t in lay["tiles"]),
        what="both tiles are laid out on the phone screen",
    )
    assert (layout["innerWidth"], layout["innerHeight"]) == (390, 844), layout
    assert layout["scrollWidth"] <= layout["innerWidth"], f"no horizontal scrollbar: {layout}"
    for tile in layout["tiles"]:
        assert tile["onTop"], f"tile {tile} is not covered by anything"
    for control in layout["controls"]:
        assert on_screen(control, layout) and control["onTop"], (
            f"control on screen and not covered: {control}"
        )

    await alice.screenshot(artifacts / "phone-call.png")
    assert (artifacts / "phone-call.png").stat().st_size > 0
