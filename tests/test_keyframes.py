"""Keyframe requests: relayed to the publisher, rate-limited; H.264 forwarded like VP8."""

from __future__ import annotations

import asyncio
import time

from aiortc import RTCRtpSender

from huddle_client.replay import encode_vp8_clip
from huddle_client.synthetic import ColourVideoTrack
from sfu.forwarding import KEYFRAME_REQUEST_INTERVAL
from tests.conftest import wait_until
from tests.media_checks import COLOURS, close_to, video_colour


async def test_subscriber_keyframe_requests_reach_the_publisher_rate_limited(clients):
    clip = encode_vp8_clip(seconds=1.0, width=160, height=120, fps=15, bitrate=200_000)
    publisher, subscriber = clients("Publisher"), clients("Subscriber")
    await publisher.join("pli")
    await subscriber.join("pli")
    (sender,) = await publisher.publish_clips([(clip, "camera")])
    try:
        track = (await subscriber.wait_for_tracks(1))[0]
        await video_colour(track)  # decoding: the first keyframe has arrived
        await asyncio.sleep(KEYFRAME_REQUEST_INTERVAL * 2)
        before = sender.keyframe_requests

        ssrc = track.receiver.getSynchronizationSources()[0].source
        sent, rate = 100, 50
        started = time.monotonic()
        for _ in range(sent):
            await track.receiver._send_rtcp_pli(ssrc)  # a subscriber hammering PLI
            await asyncio.sleep(1 / rate)
        await asyncio.sleep(KEYFRAME_REQUEST_INTERVAL)
        elapsed = time.monotonic() - started  # longer than 2 s on a loaded machine
        relayed = sender.keyframe_requests - before
    finally:
        await sender.stop()
    assert relayed >= 2, "keyframe requests must reach the publisher"
    assert relayed <= elapsed / KEYFRAME_REQUEST_INTERVAL + 2, f"{relayed} of {sent} PLIs in {elapsed:.1f} s"


async def test_h264_is_forwarded(clients):
    publisher, subscriber = clients("Publisher"), clients("Subscriber")
    await publisher.join("h264")
    await subscriber.join("h264")
    pc = publisher.publisher_connection
    transceiver = pc.addTransceiver(ColourVideoTrack(COLOURS[3], width=320, height=240), direction="sendonly")
    h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
    transceiver.setCodecPreferences(h264)
    await publisher.publish_transceivers({transceiver: "camera"})
    track = (await subscriber.wait_for_tracks(1))[0]
    await wait_until(lambda: subscriber.participants[publisher.participant_id].tracks != {})
    info = next(iter(subscriber.participants[publisher.participant_id].tracks.values()))
    assert info["codec"] == "video/H264"
    assert close_to(await video_colour(track), COLOURS[3])


async def test_publisher_ssrc_change_keeps_the_subscriber_stream_continuous(server, clients):
    clip = encode_vp8_clip(seconds=3.0, width=160, height=120, fps=15, bitrate=200_000)
    received: list[tuple[float, int, int, bytes]] = []

    def record(track, packet) -> None:
        received.append((time.monotonic(), packet.ssrc, packet.sequence_number, packet.payload))

    publisher, subscriber = clients("Publisher"), clients("Subscriber", packet_sink=record)
    await publisher.join("ssrc")
    await subscriber.join("ssrc")
    (sender,) = await publisher.publish_clips([(clip, "camera")])
    try:
        await wait_until(lambda: len(received) > 20)
        await asyncio.sleep(KEYFRAME_REQUEST_INTERVAL)
        requests_before = server.conference.media.counters.keyframe_requests
        sender.restart_stream()  # new SSRC, sequence numbers and timestamps
        switched = time.monotonic()
        await wait_until(lambda: sum(1 for r in received if r[0] > switched + 0.1) > 20)
    finally:
        await sender.stop()

    assert len({ssrc for _, ssrc, _, _ in received}) == 1, "the subscriber sees one stream"
    steps = [(b[2] - a[2]) & 0xFFFF for a, b in zip(received, received[1:], strict=False)]
    assert all(0 < step < 50 for step in steps), sorted(steps)[-3:]
    assert server.conference.media.counters.keyframe_requests > requests_before
    assert clip.frames[0].payloads[0] in [r[3] for r in received if r[0] > switched], "restarts at a keyframe"
