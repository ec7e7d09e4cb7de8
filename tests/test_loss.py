"""With 3 % of packets dropped on one subscriber's leg, NACKs keep its video whole."""

from __future__ import annotations

import asyncio
import random
import time

from huddle_client.synthetic import ColourVideoTrack

LOSS = 0.03
FPS = 15


def drop_incoming_rtp(client, loss: float, seed: int = 3) -> dict[str, int]:
    """Drop a fraction of the RTP a client's subscriber connection receives (test-only hook)."""
    rng = random.Random(seed)
    stats = {"dropped": 0, "passed": 0}
    transport = client._subscriber.getTransceivers()[0].receiver.transport
    original = transport._handle_rtp_data

    async def lossy(data: bytes, arrival_time_ms: int) -> None:
        if rng.random() < loss:
            stats["dropped"] += 1
            return
        stats["passed"] += 1
        await original(data, arrival_time_ms)

    transport._handle_rtp_data = lossy
    return stats


async def count_frames(track, seconds: float) -> int:
    frames = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            await asyncio.wait_for(track.track.recv(), max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            break
        frames += 1
    return frames


async def test_lossy_subscriber_keeps_full_frame_rate(server, clients):
    publisher, clean, lossy = clients("Publisher"), clients("Clean"), clients("Lossy")
    for person in (publisher, clean, lossy):
        await person.join("loss")
    await publisher.publish(
        [(ColourVideoTrack((200, 50, 50), width=320, height=240, fps=FPS, noise=30), "camera")]
    )
    clean_track = (await clean.wait_for_tracks(1))[0]
    lossy_track = (await lossy.wait_for_tracks(1))[0]
    stats = drop_incoming_rtp(lossy, LOSS)
    retransmitted_before = server.conference.media.counters.retransmissions

    # warm up, then count frames both subscribers decode over the same window
    await asyncio.gather(count_frames(clean_track, 1.0), count_frames(lossy_track, 1.0))
    window = 6.0
    clean_frames, lossy_frames = await asyncio.gather(
        count_frames(clean_track, window), count_frames(lossy_track, window)
    )

    assert stats["dropped"] >= 10, f"the test must really drop packets: {stats}"
    assert server.conference.media.counters.retransmissions > retransmitted_before
    # Without NACK the lossy subscriber decodes next to nothing (checked: 0 frames); on a
    # loaded machine both fall a little behind the publisher's 15 fps, so compare the two.
    assert clean_frames >= FPS * window * 0.7, f"clean subscriber decoded only {clean_frames}"
    assert lossy_frames >= clean_frames * 0.93, f"lossy {lossy_frames} vs clean {clean_frames} frames"
