import asyncio

from huddle_client.synthetic import ColourVideoTrack, ToneAudioTrack, dominant_colour


async def test_two_participants_smoke(clients):
    a = clients("Alice")
    b = clients("Bob")
    await a.join("room1")
    await b.join("room1")
    await a.publish([(ColourVideoTrack((255, 0, 0)), "camera"), (ToneAudioTrack(440), "microphone")])
    tracks = await b.wait_for_tracks(2)
    video = next(t for t in tracks if t.kind == "video")
    frame = await asyncio.wait_for(video.track.recv(), 5)
    print(dominant_colour(frame))
    assert dominant_colour(frame)[0] > 200
