"""End-to-end encryption in Chromium: the same passphrase decodes, another does not, the SFU
forwards ciphertext only, and a page without the passphrase is asked for one and sends nothing.

The SFU's side is looked at with a Python client in the room that records the RTP payloads
the SFU forwards without decoding them (``packet_sink``), reassembles VP8 frames and gives
them to libvpx (PyAV). The same check on an unencrypted room must find the camera's colour,
so the check is proven able to pass.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import av
import numpy as np
from aiortc.rtp import RtpPacket

from huddle_client import HuddleClient, RemoteTrack
from signalling.rooms import RoomOptions
from signalling.tokens import Grants
from tests.browser.conftest import (
    PALETTE,
    WAIT,
    BrowserParticipant,
    Opener,
    close_to,
    eventually,
    published_track,
    wait_published,
)
from tests.conftest import LOOPBACK, RunningServer, token_for, wait_until

PASSPHRASE = "correct horse battery staple"
WRONG = "incorrect donkey battery staple"
# Rooms made before anyone joins: they must outlive the test server's 0.5 s empty-room timeout.
SEALED = RoomOptions(e2ee_required=True, empty_timeout=300)
OPEN = RoomOptions(empty_timeout=300)


# --- pages ------------------------------------------------------------------------------


@dataclass
class Wire:
    """What a page sent to the server: WebSocket frames, request URLs and bodies."""

    frames: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def mentions(self, secret: str) -> bool:
        return any(secret in text for text in (*self.frames, *self.requests))

    def sent(self, kind: str) -> list[str]:
        return [f for f in self.frames if f'"type":"{kind}"' in f.replace(" ", "")]


def record_wire(page: BrowserParticipant) -> Wire:
    wire = Wire()

    def on_socket(socket: Any) -> None:
        socket.on("framesent", lambda payload: wire.frames.append(str(payload)))

    page.page.on("websocket", on_socket)
    page.page.on("request", lambda r: wire.requests.append(f"{r.url} {r.post_data or ''}"))
    return wire


async def asks_for_passphrase(person: BrowserParticipant) -> None:
    await person.page.wait_for_selector("#passphrase-input", state="visible", timeout=WAIT * 1000)
    await person.page.wait_for_function(
        "() => document.getElementById('join-error').textContent.includes('passphrase')"
        " && !document.getElementById('join-button').disabled"
        " && document.activeElement === document.getElementById('passphrase-input')",
        timeout=WAIT * 1000,
    )


async def open_room(
    browsers: Opener, server: RunningServer, name: str, room: str, passphrase: str | None, **params: str
) -> tuple[BrowserParticipant, Wire]:
    """Open ``/r/<room>?autojoin=1`` (with ``#e2ee=1`` and the passphrase typed in when given;
    ``params``: more URL parameters, e.g. ``camera="off"``)."""
    person = await browsers(name, room, join=False)
    wire = record_wire(person)
    query = urlencode({"name": name, "autojoin": "1", **params})
    url = f"{server.url}/r/{quote(room, safe='')}?{query}" + ("#e2ee=1" if passphrase else "")
    await person.page.goto(url, wait_until="domcontentloaded")
    if passphrase:
        # autojoin stops at the empty passphrase field and asks for it
        await asks_for_passphrase(person)
        await person.page.fill("#passphrase-input", passphrase)
        await person.page.click("#join-button")
    await person.wait_joined()
    return person, wire


# Inbound video stats of every subscriber receiver: packets received, frames decoded.
RECEIVERS = """async () => {
  const pc = window.huddle.subscriber;
  if (!pc) return [];
  const out = [];
  for (const r of pc.getReceivers()) {
    if (r.track.kind !== "video") continue;
    (await r.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp") out.push({packets: s.packetsReceived, decoded: s.framesDecoded ?? 0});
    });
  }
  return out;
}"""


async def tile_e2ee(person: BrowserParticipant, participant_id: str) -> str | None:
    return await person.page.evaluate(
        "p => document.querySelector(`.tile[data-participant-id='${p}'][data-kind='camera']`)"
        "?.getAttribute('data-e2ee') ?? null",
        participant_id,
    )


# --- what the SFU forwards --------------------------------------------------------------


@dataclass
class Recorder:
    """RTP packets the SFU forwarded, per track, as they arrived."""

    packets: dict[str, list[RtpPacket]] = field(default_factory=lambda: defaultdict(list))

    def __call__(self, track: RemoteTrack, packet: RtpPacket) -> None:
        self.packets[track.track_id].append(packet)


def vp8_descriptor(payload: bytes) -> tuple[bool, bytes]:
    """(starts a frame, VP8 data) of one RTP payload (RFC 7741 payload descriptor)."""
    first, offset = payload[0], 1
    if first & 0x80:
        ext, offset = payload[1], 2
        if ext & 0x80:
            offset += 2 if payload[offset] & 0x80 else 1
        if ext & 0x40:
            offset += 1
        if ext & 0x30:
            offset += 1
    return bool(first & 0x10) and first & 0x07 == 0, payload[offset:]


def vp8_frames(packets: list[RtpPacket]) -> list[bytes]:
    """Whole frames (every packet from start to marker, no gap), in order, from a keyframe on."""
    media_pt = Counter(p.payload_type for p in packets).most_common(1)[0][0]  # not RTX
    by_timestamp: dict[int, list[RtpPacket]] = defaultdict(list)
    for p in packets:
        if p.payload_type == media_pt and p.payload:
            by_timestamp[p.timestamp].append(p)
    frames = []
    for group in by_timestamp.values():
        group.sort(key=lambda p: p.sequence_number)
        seqs = [p.sequence_number for p in group]
        contiguous = all((b - a) % 65536 == 1 for a, b in zip(seqs, seqs[1:], strict=False))
        starts, _ = vp8_descriptor(group[0].payload)
        if contiguous and starts and group[-1].marker:
            frames.append((seqs[0], b"".join(vp8_descriptor(p.payload)[1] for p in group)))
    frames.sort(key=lambda f: f[0])
    data = [d for _, d in frames]
    first_key = next((i for i, d in enumerate(data) if d[0] & 0x01 == 0), len(data))
    return data[first_key:]


@dataclass
class Forwarded:
    """A publisher's camera and microphone as the SFU forwarded them: VP8 frames from a
    keyframe on, and Opus packets."""

    camera: list[bytes]
    microphone: list[bytes]


async def forwarded_media(server: RunningServer, room: str, publisher: BrowserParticipant) -> Forwarded:
    """About 2 s of ``publisher``'s media as a listening Python client receives it from the SFU."""
    await wait_published(server, room, publisher.participant_id, {"camera", "microphone"})
    camera = published_track(server, room, publisher.participant_id, "camera")
    microphone = published_track(server, room, publisher.participant_id, "microphone")
    recorder = Recorder()
    token = token_for(server, room, name="Listener", grants=Grants(publish=frozenset()))
    # A listener publishes nothing: its data-channel-only offer needs no e2ee flag.
    listener = HuddleClient(
        server.url, "Listener", host_addresses=LOOPBACK, packet_sink=recorder, token=token
    )
    try:
        await listener.join(room)
        await wait_until(
            lambda: len(recorder.packets[camera]) >= 60 and len(recorder.packets[microphone]) >= 100, WAIT
        )
    finally:
        await listener.close()
    audio = recorder.packets[microphone]
    opus_pt = Counter(p.payload_type for p in audio).most_common(1)[0][0]
    return Forwarded(
        vp8_frames(recorder.packets[camera]),
        [p.payload for p in sorted(audio, key=lambda p: p.sequence_number) if p.payload_type == opus_pt],
    )


def tone_share(packets: list[bytes], frequency: float) -> float:
    """The share of the energy libopus decodes from ``packets`` that lies within 25 Hz of
    ``frequency`` (a clean tone: near 1; noise: near 0). Undecodable packets add nothing.
    Each decoded frame is scaled to the same loudness first: libopus turns some garbled
    packets into samples hundreds of times full scale, and one of those would otherwise
    outweigh all the rest (a 0.17 share from ciphertext was seen that way)."""
    codec = av.CodecContext.create("opus", "r")
    codec.sample_rate = 48000
    codec.layout = "stereo"
    chunks = []
    for data in packets:
        try:
            pictures = codec.decode(av.Packet(data))
        except av.error.FFmpegError:
            continue
        for frame in pictures:
            samples = frame.to_ndarray()
            channels = len(frame.layout.channels)
            if samples.shape[0] == 1 and channels > 1:  # packed: interleaved in one row
                samples = samples.reshape(-1, channels).T
            chunk = samples[0].astype(np.float64)
            rms = float(np.sqrt(np.mean(chunk**2)))
            if rms > 1e-6:
                chunks.append(chunk / rms)
    if not chunks:
        return 0.0
    signal = np.concatenate(chunks)
    power = np.abs(np.fft.rfft(signal * np.hanning(len(signal)))) ** 2
    near = np.abs(np.fft.rfftfreq(len(signal), 1 / 48000) - frequency) <= 25
    total = power[1:].sum()
    return float(power[near].sum() / total) if total > 0 else 0.0


def decode_vp8(frames: list[bytes]) -> tuple[list[tuple[int, int, int]], int]:
    """Give the frames to libvpx: (mean colour of the centre of each picture, errors)."""
    codec = av.CodecContext.create("vp8", "r")
    colours, errors = [], 0
    for data in frames:
        try:
            pictures = codec.decode(av.Packet(data))
        except av.error.FFmpegError:
            errors += 1
            continue
        for picture in pictures:
            rgb = picture.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            centre = rgb[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
            colours.append(tuple(int(c) for c in centre.reshape(-1, 3).mean(axis=0)))
    return colours, errors


# --- tests ------------------------------------------------------------------------------


async def test_same_passphrase_decodes_and_a_wrong_one_shows_no_picture(server, browsers):
    server.conference.create_room("sealed", SEALED)
    (alice, alice_wire), (bob, _) = await asyncio.gather(
        open_room(browsers, server, "Alice", "sealed", PASSPHRASE),
        open_room(browsers, server, "Bob", "sealed", PASSPHRASE),
    )

    # the same passphrase: each decodes the other's camera (its colour, frames rising) and mic;
    # meanwhile a Python client records what the SFU forwards of Alice's camera
    async def decodes(me: BrowserParticipant, other: BrowserParticipant) -> None:
        await wait_published(server, "sealed", other.participant_id, {"camera", "microphone"})
        await me.video_flowing(other.participant_id, colour=other.colour)
        await me.audio_flowing(published_track(server, "sealed", other.participant_id, "microphone"))
        assert await me.visible("#e2ee-indicator")
        assert await me.huddle("h.e2ee") is True

    forwarded, *_ = await asyncio.gather(
        forwarded_media(server, "sealed", alice), decodes(alice, bob), decodes(bob, alice)
    )
    assert await tile_e2ee(alice, bob.participant_id) == "ok"

    # the SFU forwarded ciphertext: libvpx makes no picture of Alice's colour from it, though
    # the keyframes' clear header (frame tag, VP8 start code, size) let the SFU find them
    frames = forwarded.camera
    assert len(frames) >= 20, len(frames)
    assert frames[0][0] & 0x01 == 0 and frames[0][3:6] == b"\x9d\x01\x2a", frames[0][:10].hex()
    colours, errors = decode_vp8(frames)
    right = [c for c in colours if close_to(list(c), alice.colour)]
    assert not right, f"libvpx decoded {len(right)} of {len(frames)} forwarded frames in Alice's colour"
    # and libopus hears no tone in the forwarded audio
    share = tone_share(forwarded.microphone, PALETTE[alice.index][1])
    assert share < 0.1, f"{share:.2f} of the decoded audio energy is Alice's tone"

    # a screen share goes through the same cipher
    await alice.page.click("#screen-button")
    await wait_published(server, "sealed", alice.participant_id, {"screen"})
    await bob.video_flowing(alice.participant_id, kind="screen")

    # a wrong passphrase: Carol's page gets the packets but shows no picture, and marks the tiles
    carol, _ = await open_room(browsers, server, "Carol", "sealed", WRONG)
    for other in (alice, bob):
        await eventually(
            carol.page,
            "p => document.querySelector(`.tile[data-participant-id='${p}'] .tile-e2ee`)?.checkVisibility()",
            other.participant_id,
            what=f"Carol's tile of {other.name} says it cannot be decrypted",
        )
        assert await tile_e2ee(carol, other.participant_id) == "failed"
    first = await eventually(
        carol.page,
        RECEIVERS,
        check=lambda rows: len(rows) == 3 and all(r["packets"] > 0 for r in rows),
        what="Carol receives Alice's camera and screen and Bob's camera",
    )
    await asyncio.sleep(2)  # packets keep coming for two seconds, and not one frame decodes
    rows = await carol.page.evaluate(RECEIVERS)
    assert sum(r["packets"] for r in rows) > sum(r["packets"] for r in first) + 20, (first, rows)
    assert all(r["decoded"] == 0 for r in rows), rows
    for other in (alice, bob):
        tile = await carol.tile(other.participant_id)
        assert tile["videoWidth"] == 0, tile

    # Alice and Bob cannot decrypt Carol either, and still see each other
    for me in (alice, bob):
        await eventually(
            me.page,
            "p => document.querySelector(`.tile[data-participant-id='${p}']`)?.getAttribute('data-e2ee')",
            carol.participant_id,
            check=lambda status: status == "failed",
            what=f"{me.name} marks Carol's tile as undecryptable",
        )
    await alice.video_flowing(bob.participant_id, colour=bob.colour)
    await bob.video_flowing(alice.participant_id, colour=alice.colour)
    assert await tile_e2ee(alice, bob.participant_id) == "ok"

    assert server.conference.rooms["sealed"].options.e2ee_required
    # the passphrase never left the page; its offers said they were encrypted
    assert not alice_wire.mentions(PASSPHRASE)
    offers = alice_wire.sent("publish_offer")
    assert offers and all('"e2ee":true' in o.replace(" ", "") for o in offers), offers[:1]


async def test_control_a_plain_room_forwards_vp8_that_libvpx_decodes(server, browsers):
    """The ciphertext check of the test above, on an unencrypted room: it finds the colour."""
    server.conference.create_room("plain", OPEN)
    alice, _ = await open_room(browsers, server, "Alice", "plain", None)
    forwarded = await forwarded_media(server, "plain", alice)
    frames = forwarded.camera
    assert len(frames) >= 20, len(frames)
    assert frames[0][3:6] == b"\x9d\x01\x2a", frames[0][:10].hex()
    colours, errors = decode_vp8(frames)
    right = [c for c in colours if close_to(list(c), alice.colour)]
    assert len(right) >= 10, (len(frames), len(colours), errors, colours[:3])
    share = tone_share(forwarded.microphone, PALETTE[alice.index][1])
    assert share > 0.5, f"only {share:.2f} of the decoded audio energy is Alice's tone"


async def test_no_passphrase_in_an_e2ee_room_asks_for_one_and_publishes_nothing(server, browsers):
    server.conference.create_room("sealed", SEALED)
    dave = await browsers("Dave", "sealed", join=False)
    wire = record_wire(dave)
    await dave.goto(server, "sealed")  # the plain room link, autojoin: no #e2ee=1

    await asks_for_passphrase(dave)
    assert await dave.huddle("h.state") == "failed"
    assert await dave.huddle("h.publisher") is None
    assert await dave.visible("#join-screen") and not await dave.visible("#call-screen")
    assert wire.sent("join") and not wire.sent("publish_offer"), wire.frames
    await wait_until(lambda: not server.conference.rooms["sealed"].peers, WAIT)  # it left at once

    # with the passphrase typed in, Dave joins and publishes encrypted media
    await dave.page.fill("#passphrase-input", PASSPHRASE)
    await dave.page.click("#join-button")
    await dave.wait_joined()
    await wait_published(server, "sealed", dave.participant_id, {"camera", "microphone"})
    assert await dave.visible("#e2ee-indicator")
    # the invite link says the call is encrypted, and carries no passphrase
    await dave.copy_invite(server.url, f"{server.url}/r/sealed#e2ee=1")
    offers = wire.sent("publish_offer")
    assert offers and all('"e2ee":true' in o.replace(" ", "") for o in offers), offers[:1]
    assert not wire.mentions(PASSPHRASE)
