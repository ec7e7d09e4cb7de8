"""Media reaches every other participant, and a late joiner sees video quickly."""

from __future__ import annotations

import asyncio
import time

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
