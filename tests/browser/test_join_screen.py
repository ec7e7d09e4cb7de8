"""The join screen: device pickers, live preview and mic meter; joining with the camera or mic off."""

from __future__ import annotations

import asyncio

from tests.browser.conftest import WAIT, close_to, eventually, published_track, wait_published
from tests.conftest import wait_until

# The pickers' options next to what the browser itself lists (with labels: permission is granted).
PICKERS = """async () => {
  const options = (id) =>
    [...document.getElementById(id).options].map((o) => ({value: o.value, label: o.textContent}));
  const devices = await navigator.mediaDevices.enumerateDevices();
  const listed = (kind) =>
    devices.filter((d) => d.kind === kind && d.deviceId).map((d) => ({value: d.deviceId, label: d.label}));
  return {
    camera: options("camera-select"), mic: options("mic-select"),
    cameras: listed("videoinput"), microphones: listed("audioinput"),
    cameraDisabled: document.getElementById("camera-select").disabled,
    micDisabled: document.getElementById("mic-select").disabled,
  };
}"""

PREVIEW = """() => {
  const v = document.getElementById("preview");
  return {width: v.videoWidth, time: v.currentTime, paused: v.paused,
          visible: window.__huddleTest.visible("#preview"), colour: window.__huddleTest.colour("#preview")};
}"""

METER = "() => Number(document.getElementById('mic-meter').dataset.level)"


def server_track_muted(server, room: str, participant_id: str, source: str) -> bool | None:
    """Whether the server has ``source`` of ``participant_id`` muted (None: not published)."""
    peer = server.conference.rooms[room].peers[participant_id]
    flags = [t.muted for t in peer.tracks.values() if t.info.source == source]
    return flags[0] if flags else None


async def test_join_screen_lists_devices_previews_and_meters_the_fake_media(server, browsers):
    alice = await browsers("Alice", "lobby", join=False)
    await alice.goto(server, "lobby", autojoin="0")
    page = alice.page

    pickers = await eventually(
        page,
        PICKERS,
        check=lambda p: (
            p["cameras"] and p["microphones"] and p["camera"] == p["cameras"] and p["mic"] == p["microphones"]
        ),
        what="the camera and microphone pickers list the browser's (fake) devices",
    )
    assert all(o["label"].strip() for o in pickers["camera"] + pickers["mic"]), pickers
    assert not pickers["cameraDisabled"] and not pickers["micDisabled"], pickers

    first = await eventually(
        page,
        PREVIEW,
        check=lambda v: v["width"] > 0 and v["visible"] and close_to(v["colour"], alice.colour),
        what="the preview shows the fake camera (its colour)",
    )
    await eventually(
        page,
        PREVIEW,
        check=lambda v: v["time"] >= first["time"] + 0.3 and not v["paused"],
        what="the preview keeps playing (currentTime advancing)",
    )
    assert await page.get_attribute("#join-camera-toggle", "aria-pressed") == "true"
    assert await page.get_attribute("#join-mic-toggle", "aria-pressed") == "true"

    level = await eventually(
        page, METER, check=lambda v: v > 0, what="#mic-meter[data-level] rises with the tone"
    )
    assert 0 < level <= 1
    assert await page.get_attribute("#mic-meter", "aria-valuenow") not in (None, "0")
    assert not await page.inner_text("#join-error")


async def test_joining_with_camera_or_mic_off_is_seen_by_the_others(server, browsers):
    room = "devices-off"
    # Alice turns her camera off on the join screen; Bob joins with ?mic=0, Carol with ?camera=0.
    alice, bob, carol = await asyncio.gather(
        browsers("Alice", room, join=False),
        browsers("Bob", room, mic="0"),
        browsers("Carol", room, camera="0"),
    )
    await alice.goto(server, room, autojoin="0")
    page = alice.page
    await eventually(page, PREVIEW, check=lambda v: v["width"] > 0, what="Alice's preview starts")
    await page.click("#join-camera-toggle")
    await page.wait_for_function(
        "() => document.getElementById('join-camera-toggle').getAttribute('aria-pressed') === 'false'"
        " && !document.getElementById('preview').srcObject",
        timeout=WAIT * 1000,
    )
    assert await alice.visible("#preview-off"), "the preview says the camera is off"
    await page.click("#join-button")
    await alice.wait_joined()

    a, b, c = alice.participant_id, bob.participant_id, carol.participant_id
    await asyncio.gather(
        wait_published(server, room, a, {"camera", "microphone"}),
        wait_published(server, room, b, {"camera", "microphone"}),
        wait_published(server, room, c, {"camera", "microphone"}),
    )
    # What the server was told (the pages announce their off devices as muted tracks)
    await wait_until(lambda: server_track_muted(server, room, a, "camera") is True, 10)
    await wait_until(lambda: server_track_muted(server, room, b, "microphone") is True, 10)
    await wait_until(lambda: server_track_muted(server, room, c, "camera") is True, 10)
    assert server_track_muted(server, room, a, "microphone") is False
    assert server_track_muted(server, room, b, "camera") is False
    assert server_track_muted(server, room, c, "microphone") is False

    # Live media of the devices that are on proves the tracks are known, so the marks are not
    # just "nothing published yet".
    await asyncio.gather(
        bob.audio_flowing(published_track(server, room, a, "microphone")),
        alice.video_flowing(b, colour=bob.colour),
        alice.audio_flowing(published_track(server, room, c, "microphone")),
    )

    def marks(camera_off: str, mic_muted: str):
        return lambda t: t["present"] and t["cameraOff"] == camera_off and t["micMuted"] == mic_muted

    await bob.wait_tile(a, marks("true", "false"), "Bob sees Alice's camera off")
    await carol.wait_tile(a, marks("true", "false"), "Carol sees Alice's camera off")
    await alice.wait_tile(b, marks("false", "true"), "Alice sees Bob's mic muted")
    await alice.wait_tile(c, marks("true", "false"), "Alice sees Carol's camera off")
    await bob.wait_tile(c, marks("true", "false"), "Bob sees Carol's camera off")

    # Each page's own controls agree
    pressed = "s => document.querySelector(s).getAttribute('aria-pressed')"
    assert await page.evaluate(pressed, "#camera-button") == "false"
    assert await page.evaluate(pressed, "#mic-button") == "true"
    assert await bob.page.evaluate(pressed, "#mic-button") == "false"
    assert await bob.page.evaluate(pressed, "#camera-button") == "true"
    assert await carol.page.evaluate(pressed, "#camera-button") == "false"
    own = await alice.tile(a)
    assert own["cameraOff"] == "true", own
