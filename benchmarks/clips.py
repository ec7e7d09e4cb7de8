"""The media every benchmark publisher sends: encoded once, cached, replayed.

The video is a moving gradient with a bouncing disc and light fresh noise, so
that libvpx spends its 1 Mbit/s evenly (a keyframe of about 8 packets, then 2 to
5 packets a frame), as a camera would. ``huddle_client.replay.encode_vp8_clip``
encodes a rolled noise image instead, which puts most of the clip's bytes in one
128-packet keyframe: a burst that would measure socket buffers, not forwarding.
"""

from __future__ import annotations

import fractions
from pathlib import Path

import numpy as np
from aiortc.codecs.vpx import Vp8Encoder
from av import VideoFrame

from huddle_client.replay import EncodedClip, EncodedFrame, cached_clip, encode_opus_clip

CACHE_DIR = Path(__file__).resolve().parent / "cache"
WIDTH, HEIGHT, FPS = 640, 480, 30
VIDEO_BITRATE = 1_000_000
CLIP_SECONDS = 10
NOISE_AMPLITUDE = 12


def _test_pattern(index: int, grid: tuple[np.ndarray, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    y, x = grid
    image = np.stack(
        [(x + 3 * index) % 256, (y + 2 * index) % 256, ((x + y) // 2 + index) % 256], axis=-1
    ).astype(np.int16)
    cx = int(WIDTH / 2 + 200 * np.cos(index / 20))
    cy = int(HEIGHT / 2 + 150 * np.sin(index / 15))
    image[(x - cx) ** 2 + (y - cy) ** 2 < 60**2] = (255, 255, 255)
    image += rng.integers(-NOISE_AMPLITUDE, NOISE_AMPLITUDE + 1, image.shape, dtype=np.int16)
    return np.clip(image, 0, 255).astype(np.uint8)


def encode_camera_clip(seconds: int = CLIP_SECONDS) -> EncodedClip:
    """A camera-like 640x480 VP8 clip at about 1 Mbit/s, 30 fps, one keyframe at the start."""
    encoder = Vp8Encoder()
    encoder.target_bitrate = VIDEO_BITRATE
    rng = np.random.default_rng(7)
    grid = np.mgrid[0:HEIGHT, 0:WIDTH]
    frames = []
    for index in range(seconds * FPS):
        frame = VideoFrame.from_ndarray(_test_pattern(index, (grid[0], grid[1]), rng), format="rgb24")
        frame.pts = index * 90000 // FPS
        frame.time_base = fractions.Fraction(1, 90000)
        payloads, timestamp = encoder.encode(frame, force_keyframe=index == 0)
        frames.append(EncodedFrame(payloads, timestamp))
    return EncodedClip("video", "video/VP8", 90000, 1 / FPS, frames)


def benchmark_clips(cache_dir: Path = CACHE_DIR) -> tuple[EncodedClip, EncodedClip]:
    """(video, audio), encoded on first use and loaded from ``cache_dir`` afterwards."""
    video = cached_clip(
        cache_dir, f"camera-vp8-{WIDTH}x{HEIGHT}-{FPS}fps-{CLIP_SECONDS}s", encode_camera_clip
    )
    audio = cached_clip(cache_dir, f"tone-opus-{CLIP_SECONDS}s", lambda: encode_opus_clip(CLIP_SECONDS))
    return video, audio


def packets_per_second(clip: EncodedClip) -> float:
    return clip.packet_count * clip.clock_rate / clip.duration_ticks
