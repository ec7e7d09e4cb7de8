"""The clips bench publishers replay: encoded once per codec/resolution/bitrate, cached on disk."""

from __future__ import annotations

import os
from pathlib import Path

from huddle_client.replay import EncodedClip, cached_clip, encode_opus_clip, encode_video_clip

from .scenarios import VideoSpec

CLIP_SECONDS = 10


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "huddle-bench"


def video_clip(spec: VideoSpec, cache_dir: Path) -> EncodedClip:
    name = f"{spec.codec.lower()}-{spec.width}x{spec.height}-{spec.fps}fps-{spec.bitrate}bps-{CLIP_SECONDS}s"
    return cached_clip(
        cache_dir,
        name,
        lambda: encode_video_clip(
            f"video/{spec.codec}", CLIP_SECONDS, spec.width, spec.height, spec.fps, spec.bitrate
        ),
    )


def audio_clip(cache_dir: Path) -> EncodedClip:
    return cached_clip(cache_dir, f"opus-tone-{CLIP_SECONDS}s", lambda: encode_opus_clip(CLIP_SECONDS))
