"""Synthetic media that says who sent it: a solid colour picture and a pure tone.

Tests and bots publish these; a receiver recognises the sender from the decoded
colour (:func:`dominant_colour`) or the tone's frequency (:func:`dominant_frequency`).
"""

from __future__ import annotations

import asyncio
import fractions
import time

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

AUDIO_RATE = 48000
AUDIO_PTIME = 0.02


class _Paced(MediaStreamTrack):
    """Releases one frame every ``1 / rate`` seconds of wall-clock time."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self._period = 1.0 / rate
        self._start: float | None = None
        self._count = 0

    async def _next_index(self) -> int:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._count += 1
            wait = self._start + self._count * self._period - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        return self._count


class ColourVideoTrack(_Paced):
    """Frames of one RGB colour; with ``noise``, a changing grain of that amplitude on top.

    Grain makes every frame expensive to encode, so frames span several packets,
    as a real camera's do.
    """

    kind = "video"

    def __init__(
        self,
        rgb: tuple[int, int, int],
        width: int = 160,
        height: int = 120,
        fps: int = 15,
        noise: int = 0,
    ) -> None:
        super().__init__(fps)
        self.fps = fps
        base = np.zeros((height, width, 3), dtype=np.int16)
        base[:, :] = rgb
        rng = np.random.default_rng(1)
        variants = 8 if noise else 1
        self._images = [
            np.clip(base + rng.integers(-noise, noise + 1, base.shape), 0, 255).astype(np.uint8)
            for _ in range(variants)
        ]

    async def recv(self) -> VideoFrame:
        index = await self._next_index()
        image = self._images[index % len(self._images)]
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = int(index * 90000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


class ToneAudioTrack(_Paced):
    """A mono sine tone of ``frequency`` Hz at 48 kHz, in 20 ms frames."""

    kind = "audio"

    def __init__(self, frequency: float, amplitude: float = 0.3) -> None:
        super().__init__(1 / AUDIO_PTIME)
        self._frequency = frequency
        self._amplitude = amplitude
        self._samples = int(AUDIO_RATE * AUDIO_PTIME)

    async def recv(self) -> AudioFrame:
        index = await self._next_index()
        start = index * self._samples
        t = (np.arange(self._samples) + start) / AUDIO_RATE
        wave = self._amplitude * np.sin(2 * np.pi * self._frequency * t)
        samples = (wave * 32767).astype(np.int16).reshape(1, -1)
        frame = AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        return frame


def dominant_colour(frame: VideoFrame) -> tuple[int, int, int]:
    """The mean RGB colour of a decoded frame's central region."""
    image = frame.to_ndarray(format="rgb24")
    h, w, _ = image.shape
    centre = image[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    r, g, b = centre.reshape(-1, 3).mean(axis=0)
    return int(r), int(g), int(b)


def dominant_frequency(frames: list[AudioFrame]) -> float:
    """The strongest frequency, in Hz, across decoded audio frames (first channel)."""
    chunks = []
    rate = AUDIO_RATE
    for frame in frames:
        data = frame.to_ndarray()
        channels = len(frame.layout.channels)
        if data.shape[0] == 1 and channels > 1:  # packed: interleaved samples in one row
            data = data.reshape(-1, channels).T
        chunks.append(data[0].astype(np.float64))
        rate = frame.sample_rate
    signal = np.concatenate(chunks)
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    spectrum[0] = 0
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[int(np.argmax(spectrum))])
