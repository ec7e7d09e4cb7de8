"""The clips bench publishers replay: encoded once per codec/resolution/bitrate, cached on disk."""

from __future__ import annotations

import fractions
import os
from pathlib import Path

import numpy as np
from aiortc.codecs.h264 import H264Encoder
from av import VideoFrame

from huddle_client.replay import (
    EncodedClip,
    EncodedFrame,
    cached_clip,
    camera_like_picture,
    encode_opus_clip,
    encode_vp8_clip,
)

from .scenarios import VideoSpec

CLIP_SECONDS = 10


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "huddle-bench"


def encode_h264_clip(seconds: float, width: int, height: int, fps: int, bitrate: int) -> EncodedClip:
    """The camera-like picture encoded once with libx264 as aiortc sends it; one keyframe at the start."""
    encoder = H264Encoder()
    encoder.target_bitrate = bitrate
    rng = np.random.default_rng(7)
    frames = []
    for index in range(int(seconds * fps)):
        frame = VideoFrame.from_ndarray(camera_like_picture(index, width, height, rng), format="rgb24")
        frame.pts = index * 90000 // fps
        frame.time_base = fractions.Fraction(1, 90000)
        payloads, timestamp = encoder.encode(frame, force_keyframe=index == 0)
        frames.append(EncodedFrame(payloads, index * 90000 // fps))
    return EncodedClip("video", "video/H264", 90000, 1 / fps, frames)


def video_clip(spec: VideoSpec, cache_dir: Path) -> EncodedClip:
    name = f"{spec.codec.lower()}-{spec.width}x{spec.height}-{spec.fps}fps-{spec.bitrate}bps-{CLIP_SECONDS}s"
    if spec.codec == "H264":
        make = lambda: encode_h264_clip(CLIP_SECONDS, spec.width, spec.height, spec.fps, spec.bitrate)  # noqa: E731
    else:
        make = lambda: encode_vp8_clip(CLIP_SECONDS, spec.width, spec.height, spec.fps, spec.bitrate)  # noqa: E731
    return cached_clip(cache_dir, name, make)


def audio_clip(cache_dir: Path) -> EncodedClip:
    return cached_clip(cache_dir, f"opus-tone-{CLIP_SECONDS}s", lambda: encode_opus_clip(CLIP_SECONDS))
