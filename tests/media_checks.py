"""Helpers for tests that decode what a client receives and check who sent it."""

from __future__ import annotations

import asyncio

from huddle_client import HuddleClient, RemoteTrack
from huddle_client.synthetic import ColourVideoTrack, ToneAudioTrack, dominant_colour, dominant_frequency

COLOURS = [(230, 30, 30), (30, 200, 40), (40, 60, 230), (230, 210, 30), (200, 40, 200)]
TONES = [440.0, 660.0, 880.0, 1100.0, 1320.0]


def media_for(index: int) -> list:
    return [(ColourVideoTrack(COLOURS[index]), "camera"), (ToneAudioTrack(TONES[index]), "microphone")]


def close_to(colour: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


async def first_frames(track: RemoteTrack, count: int, timeout: float = 10.0) -> list:
    async def read() -> list:
        return [await track.track.recv() for _ in range(count)]

    return await asyncio.wait_for(read(), timeout)


async def video_colour(track: RemoteTrack, timeout: float = 10.0) -> tuple[int, int, int]:
    frames = await first_frames(track, 3, timeout)
    return dominant_colour(frames[-1])


async def audio_tone(track: RemoteTrack, timeout: float = 10.0) -> float:
    frames = await first_frames(track, 40, timeout)
    return dominant_frequency(frames[15:])


def tracks_by_sender(client: HuddleClient) -> dict[tuple[str, str], RemoteTrack]:
    """(publisher participant id, kind) -> track, for the live tracks a client receives."""
    return {(t.participant_id, t.kind): t for t in client.live_tracks()}


async def wait_for_colour(track: RemoteTrack, expected: tuple[int, int, int], timeout: float = 5.0) -> int:
    """Read frames until one shows ``expected``; returns how many frames that took."""

    async def read() -> int:
        count = 0
        while True:
            count += 1
            if close_to(dominant_colour(await track.track.recv()), expected):
                return count

    return await asyncio.wait_for(read(), timeout)
