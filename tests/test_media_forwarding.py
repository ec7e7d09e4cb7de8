"""Media reaches every other participant, and a late joiner sees video quickly."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from sfu.downtrack import ABS_SEND_TIME_URI, AUDIO_LEVEL_URI, MID_URI, RtpHeaderWriter
from sfu.tracks import ntp_now
from tests.media_checks import COLOURS, TONES, audio_tone, close_to, media_for, tracks_by_sender, video_colour


async def test_two_participants_see_and_hear_each_other(clients):
    alice, bob = clients("Alice"), clients("Bob")
    await alice.join("pair")
    await bob.join("pair")
    await alice.publish(media_for(0))
    await bob.publish(media_for(1))

    for receiver, sender, index in ((bob, alice, 0), (alice, bob, 1)):
        await receiver.wait_for_tracks(2)
        received = tracks_by_sender(receiver)
        colour = await video_colour(received[(sender.participant_id, "video")])
        assert close_to(colour, COLOURS[index]), f"{receiver.name} saw {colour} from {sender.name}"
        tone = await audio_tone(received[(sender.participant_id, "audio")])
        assert abs(tone - TONES[index]) < 15, f"{receiver.name} heard {tone} Hz from {sender.name}"


async def test_four_participants_each_receive_the_other_three(clients):
    people = [clients(f"P{i}") for i in range(4)]
    for person in people:
        await person.join("four")
    for index, person in enumerate(people):
        await person.publish(media_for(index))

    for person in people:
        await person.wait_for_tracks(6, timeout=15)
        received = tracks_by_sender(person)
        others = [(i, p) for i, p in enumerate(people) if p is not person]
        assert {pid for pid, _ in received} == {p.participant_id for _, p in others}
        colours = await asyncio.gather(
            *(video_colour(received[(p.participant_id, "video")]) for _, p in others)
        )
        for (index, other), colour in zip(others, colours, strict=True):
            assert close_to(colour, COLOURS[index]), f"{person.name} saw {colour} from {other.name}"


async def test_late_joiner_decodes_three_publishers_within_1_5_seconds(clients):
    publishers = [clients(f"Pub{i}") for i in range(3)]
    for index, publisher in enumerate(publishers):
        await publisher.join("late")
        await publisher.publish(media_for(index)[:1])
    # let the room settle into a steady state, well past the publishers' first keyframes
    await asyncio.sleep(2.0)

    late = clients("Late")
    started = time.monotonic()
    await late.join("late")
    tracks = await late.wait_for_tracks(3, timeout=5)

    async def first_colour(track):
        frame = await asyncio.wait_for(track.track.recv(), 5)
        return track.participant_id, frame, time.monotonic() - started

    results = await asyncio.gather(*(first_colour(t) for t in tracks))
    from huddle_client.synthetic import dominant_colour

    by_id = {p.participant_id: i for i, p in enumerate(publishers)}
    for participant_id, frame, elapsed in results:
        assert close_to(dominant_colour(frame), COLOURS[by_id[participant_id]])
        assert elapsed < 1.5, f"video from {participant_id} took {elapsed:.2f} s"


@pytest.mark.parametrize("audio_level", [None, (True, 40)])
@pytest.mark.parametrize("uris", [(), (MID_URI,), (MID_URI, ABS_SEND_TIME_URI), (MID_URI, AUDIO_LEVEL_URI)])
def test_written_packets_parse_as_rtp_with_the_negotiated_extensions(uris, audio_level):
    extensions = [RTCRtpHeaderExtensionParameters(id=index + 3, uri=uri) for index, uri in enumerate(uris)]
    ntp = ntp_now()
    data = RtpHeaderWriter(extensions, "12").build(111, 1, 65535, 0xFFFFFFFF, 1234, ntp, audio_level, b"abc")
    extensions_map = HeaderExtensionsMap()
    extensions_map.configure(RTCRtpParameters(headerExtensions=extensions))
    packet = RtpPacket.parse(data, extensions_map)
    assert (packet.payload_type, packet.marker, packet.sequence_number) == (111, 1, 65535)
    assert (packet.timestamp, packet.ssrc, packet.payload) == (0xFFFFFFFF, 1234, b"abc")
    assert packet.extensions.mid == ("12" if MID_URI in uris else None)
    assert packet.extensions.abs_send_time == ((ntp >> 14) & 0xFFFFFF if ABS_SEND_TIME_URI in uris else None)
    assert packet.extensions.audio_level == (audio_level if AUDIO_LEVEL_URI in uris else None)
