"""Send-time stamps that a subscriber reads without decoding.

Each RTP payload a bench publisher sends ends with a 12-byte trailer: a 4-byte
magic and the wall-clock send time in microseconds (64 bits, big-endian). The SFU
forwards payloads unchanged, and its keyframe detection reads only their first
bytes, so the trailer reaches every subscriber intact. Publishers and subscribers
run on the same machine (the tool's), so their wall clocks agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable

from aiortc import RTCRtpTransceiver

from huddle_client.replay import EncodedClip, ReplaySender

MAGIC = b"HBT1"
TRAILER = struct.Struct(">4sQ")
TRAILER_SIZE = TRAILER.size


def stamp(data: bytes, sent_us: int) -> bytes:
    """``data`` (an RTP packet or payload, no padding) with the trailer appended."""
    return data + TRAILER.pack(MAGIC, sent_us)


def read_stamp(payload: bytes) -> int | None:
    """The send time in microseconds, or None if the payload carries no trailer."""
    if len(payload) < TRAILER_SIZE or payload[-TRAILER_SIZE:-8] != MAGIC:
        return None
    return TRAILER.unpack_from(payload, len(payload) - TRAILER_SIZE)[1]


def now_us() -> int:
    return time.time_ns() // 1000


Writer = Callable[[bytes], Awaitable[None]]


class DelayedWriter:
    """Writes packets ``delay`` seconds after they were handed over, in order.

    The test's known network delay: the packet is stamped first, then held, so
    the measured latency grows by ``delay``. Pacing is untouched, as on a long link.
    """

    def __init__(self, write: Writer, delay: float) -> None:
        self._write = write
        self._delay = delay
        self._queue: deque[tuple[float, bytes]] = deque()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def __call__(self, data: bytes) -> None:
        self._queue.append((time.monotonic() + self._delay, data))
        self._wake.set()

    async def _run(self) -> None:
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            due, data = self._queue.popleft()
            pause = due - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            with contextlib.suppress(ConnectionError):
                await self._write(data)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class StampingReplaySender(ReplaySender):
    """A ReplaySender whose every packet carries its send time (and, optionally, a held delay)."""

    def __init__(self, transceiver: RTCRtpTransceiver, clip: EncodedClip, delay: float = 0.0) -> None:
        super().__init__(transceiver, clip)
        write: Writer = self._write
        self._delayed = DelayedWriter(write, delay) if delay > 0 else None
        target = self._delayed or write

        async def stamped_write(packet: bytes) -> None:
            await target(stamp(packet, now_us()))

        self._write = stamped_write

    async def stop(self) -> None:
        await super().stop()
        if self._delayed is not None:
            await self._delayed.close()
