"""Tracks that come and go during a call, and mute state, reach the others."""

from __future__ import annotations

from aiortc import RTCSessionDescription

from huddle_client.synthetic import ColourVideoTrack, dominant_colour
from tests.conftest import wait_until
from tests.media_checks import COLOURS, close_to, first_frames, media_for


async def test_track_added_later_and_removed_reaches_the_others(clients):
    presenter, viewer = clients("Presenter"), clients("Viewer")
    await presenter.join("present")
    await viewer.join("present")
    camera_ids = set((await presenter.publish(media_for(0)[:1])).values())
    await viewer.wait_for_tracks(1)

    published = await presenter.publish([(ColourVideoTrack(COLOURS[2], width=320, height=240), "screen")])
    (screen_id,) = set(published.values()) - camera_ids
    announced = await viewer.wait_for_event("track_published", lambda e: e["track"]["track_id"] == screen_id)
    assert announced["track"]["source"] == "screen" and announced["track"]["kind"] == "video"
    tracks = await viewer.wait_for_tracks(2)
    screen = next(t for t in tracks if t.track_id == screen_id)
    assert screen.source == "screen"
    frames = await first_frames(screen, 2)
    assert close_to(dominant_colour(frames[-1]), COLOURS[2])
    assert frames[-1].width == 320

    await presenter.unpublish(screen_id)
    await viewer.wait_for_event("track_unpublished", lambda e: e["track_id"] == screen_id)
    await wait_until(lambda: screen_id not in {t.track_id for t in viewer.live_tracks()})
    camera = viewer.live_tracks()
    assert len(camera) == 1 and camera[0].source == "camera"
    assert len(viewer.participants[presenter.participant_id].tracks) == 1


async def test_mute_state_is_shared_and_shown_to_joiners(clients):
    speaker, listener = clients("Speaker"), clients("Listener")
    await speaker.join("mute")
    await listener.join("mute")
    published = await speaker.publish(media_for(1))
    audio_id = next(t.track_id for t in (await listener.wait_for_tracks(2)) if t.kind == "audio")
    assert audio_id in published.values()

    await speaker.set_muted(audio_id, True)
    event = await listener.wait_for_event("track_muted", lambda e: e["track_id"] == audio_id)
    assert event["muted"] is True and event["participant_id"] == speaker.participant_id
    assert listener.participants[speaker.participant_id].tracks[audio_id]["muted"] is True

    late = clients("Late")
    joined = await late.join("mute")
    speaker_info = next(p for p in joined["participants"] if p["participant_id"] == speaker.participant_id)
    assert {t["track_id"]: t["muted"] for t in speaker_info["tracks"]}[audio_id] is True

    await speaker.set_muted(audio_id, False)
    await wait_until(lambda: listener.participants[speaker.participant_id].tracks[audio_id]["muted"] is False)


async def test_bundle_only_m_lines_are_published(clients):
    """Firefox offers m-lines after the first with port 0 and a=bundle-only (RFC 8843)."""
    publisher, viewer = clients("Firefox-like"), clients("Viewer")
    await publisher.join("bundle")
    await viewer.join("bundle")
    pc = publisher.publisher_connection
    pc.addTransceiver(ColourVideoTrack(COLOURS[4]), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sections = pc.localDescription.sdp.split("\r\nm=")
    video = next(i for i, s in enumerate(sections) if s.startswith("video "))
    port = sections[video].split(" ")[1]
    head, rest = sections[video].split("\r\n", 1)
    sections[video] = head.replace(f"video {port} ", "video 0 ", 1) + "\r\na=bundle-only\r\n" + rest
    await publisher.send({"type": "publish_offer", "sdp": "\r\nm=".join(sections), "tracks": []})
    answer = await publisher.wait_for_event("publish_answer", lambda e: e["tracks"])
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    track = (await viewer.wait_for_tracks(1))[0]
    assert track.kind == "video"
    assert close_to(dominant_colour((await first_frames(track, 2))[-1]), COLOURS[4])
