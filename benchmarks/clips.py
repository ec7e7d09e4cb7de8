"""The media every benchmark publisher sends: encoded once, cached, replayed.

The video is :func:`huddle_client.replay.encode_vp8_clip`'s camera-like picture,
so that libvpx spends its 1 Mbit/s evenly (a keyframe of about 8 packets, then 2
to 5 packets a frame) rather than in one burst.
"""

from __future__ import annotations

from pathlib import Path

from huddle_client.replay import EncodedClip, cached_clip, encode_opus_clip, encode_vp8_clip

CACHE_DIR = Path(__file__).resolve().parent / "cache"
WIDTH, HEIGHT, FPS = 640, 480, 30
VIDEO_BITRATE = 1_000_000
CLIP_SECONDS = 10
NOISE_AMPLITUDE = 12


def encode_camera_clip(seconds: int = CLIP_SECONDS) -> EncodedClip:
    """A camera-like 640x480 VP8 clip at about 1 Mbit/s, 30 fps, one keyframe at the start."""
    return encode_vp8_clip(seconds, WIDTH, HEIGHT, FPS, VIDEO_BITRATE)


def benchmark_clips(cache_dir: Path = CACHE_DIR) -> tuple[EncodedClip, EncodedClip]:
    """(video, audio), encoded on first use and loaded from ``cache_dir`` afterwards."""
    video = cached_clip(
        cache_dir, f"camera-vp8-{WIDTH}x{HEIGHT}-{FPS}fps-{CLIP_SECONDS}s", encode_camera_clip
    )
    audio = cached_clip(cache_dir, f"tone-opus-{CLIP_SECONDS}s", lambda: encode_opus_clip(CLIP_SECONDS))
    return video, audio


def packets_per_second(clip: EncodedClip) -> float:
    return clip.packet_count * clip.clock_rate / clip.duration_ticks
