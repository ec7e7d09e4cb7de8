"""The SFU passes the publisher's payload bytes through untouched and never builds a codec."""

from __future__ import annotations

import aiortc.codecs
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import pytest

from huddle_client.replay import encode_opus_clip, encode_vp8_clip
from tests.conftest import wait_until


@pytest.fixture
def codec_calls(monkeypatch):
    """Record every decoder and encoder aiortc creates in this process."""
    calls: list[str] = []

    def recording(name, original):
        def create(codec):
            calls.append(f"{name}({codec.mimeType})")
            return original(codec)

        return create

    for module in (aiortc.codecs, aiortc.rtcrtpreceiver):
        monkeypatch.setattr(module, "get_decoder", recording("get_decoder", aiortc.codecs.get_decoder))
    for module in (aiortc.codecs, aiortc.rtcrtpsender):
        monkeypatch.setattr(module, "get_encoder", recording("get_encoder", aiortc.codecs.get_encoder))
    return calls


async def test_forwarded_payloads_are_the_published_bytes(clients):
    video_clip = encode_vp8_clip(seconds=1.0, width=320, height=240, fps=15, bitrate=400_000)
    audio_clip = encode_opus_clip(seconds=1.0)
    received: dict[str, list[bytes]] = {"video": [], "audio": []}

    def record(track, packet) -> None:
        received[track.kind].append(packet.payload)

    publisher = clients("Publisher")
    subscriber = clients("Subscriber", packet_sink=record)
    await publisher.join("bytes")
    await subscriber.join("bytes")
    senders = await publisher.publish_clips([(video_clip, "camera"), (audio_clip, "microphone")])
    for sender in senders:
        sender.sent_payloads = []
    await wait_until(lambda: len(received["video"]) > 100 and len(received["audio"]) > 50)
    for sender in senders:
        await sender.stop()

    for sender, kind in zip(senders, ("video", "audio"), strict=True):
        sent = sender.sent_payloads
        got = received[kind]
        # what arrived is an unbroken run of what was sent, byte for byte (the clip loops,
        # so the run may start at any repetition of its first payload)
        starts = [i for i, payload in enumerate(sent) if payload == got[0]]
        assert any(got == sent[i : i + len(got)] for i in starts), f"{kind} payloads differ"
    assert received["video"][0] == video_clip.frames[0].payloads[0], "video starts at the keyframe"


async def test_sfu_creates_no_decoder_or_encoder(clients, codec_calls):
    video_clip = encode_vp8_clip(seconds=0.5, width=160, height=120, fps=15, bitrate=200_000)
    codec_calls.clear()  # the clip itself was encoded by the test, before the call
    counts = {"video": 0}

    def count(track, packet) -> None:
        counts[track.kind] = counts.get(track.kind, 0) + 1

    publisher = clients("Publisher")
    subscribers = [clients(f"Sub{i}", packet_sink=count) for i in range(2)]
    await publisher.join("nocodec")
    for subscriber in subscribers:
        await subscriber.join("nocodec")
    await publisher.publish_clips([(video_clip, "camera")])
    await wait_until(lambda: counts["video"] > 60)
    assert codec_calls == [], "nobody in this process may decode or encode: the SFU least of all"
