"""Per-connection rate limits: token buckets for signalling and chat, and flood detection.

A client over its limit has the extra messages dropped with a ``rate_limited``
error; one that keeps sending at many times the limit is disconnected, so a
misbehaving client costs the server little and never slows the others.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: float


SIGNALLING_RATE = Rate(per_second=50, burst=200)
# The burst matches the 200 chat messages a client may hold while its channel is not open
# (docs/protocol.md), which a reconnecting browser sends at once.
CHAT_RATE = Rate(per_second=20, burst=200)
# Error replies to a chat sender over its limit: the errors themselves must not become a flood.
CHAT_ERROR_RATE = Rate(per_second=10, burst=50)
# Disconnect a signalling client that sends more than FLOOD_FACTOR times its sustained rate
# in each of FLOOD_SECONDS consecutive seconds.
FLOOD_FACTOR = 10
FLOOD_SECONDS = 3
_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class TokenBucket:
    """Holds up to ``burst`` tokens, refilled at ``per_second``; each message takes one."""

    def __init__(self, rate: Rate, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate.burst
        self._updated = clock()

    def take(self) -> bool:
        """Take a token if there is one."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    @property
    def full(self) -> bool:
        self._refill()
        return self._tokens >= self.rate.burst

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.rate.burst, self._tokens + (now - self._updated) * self.rate.per_second)
        self._updated = now


class FloodDetector:
    """Messages per whole second; true once ``seconds`` seconds in a row each had over ``limit``."""

    def __init__(self, limit: float, seconds: int, clock: Clock = time.monotonic) -> None:
        self._limit = limit
        self._seconds = seconds
        self._clock = clock
        self._second = int(clock())
        self._count = 0
        self._over_in_a_row = 0

    def count(self) -> bool:
        second = int(self._clock())
        if second != self._second:
            over = self._count > self._limit and second == self._second + 1
            self._over_in_a_row = self._over_in_a_row + 1 if over else 0
            self._second, self._count = second, 0
        self._count += 1
        # The current second counts as soon as it is over the limit.
        return self._over_in_a_row + (self._count > self._limit) >= self._seconds


class SignallingLimiter:
    """One WebSocket's limit: ``allow()`` per message; ``flooding`` once it should be disconnected."""

    def __init__(self, rate: Rate = SIGNALLING_RATE, clock: Clock = time.monotonic) -> None:
        self._bucket = TokenBucket(rate, clock)
        self._flood = FloodDetector(rate.per_second * FLOOD_FACTOR, FLOOD_SECONDS, clock)
        self.flooding = False

    def allow(self) -> bool:
        if self._flood.count():
            self.flooding = True
        return self._bucket.take()


class KeyedBuckets:
    """A bucket per key (a participant). A full bucket is the same as a new one, so full ones are dropped."""

    PRUNE_EVERY = 60.0

    def __init__(self, rate: Rate, clock: Clock = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._pruned = clock()

    def take(self, key: str) -> bool:
        now = self._clock()
        if now - self._pruned > self.PRUNE_EVERY:
            self._buckets = {k: b for k, b in self._buckets.items() if not b.full}
            self._pruned = now
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self._rate, self._clock)
        return bucket.take()

    def __len__(self) -> int:
        return len(self._buckets)


def peek_field(raw: str | bytes, name: str, max_bytes: int = 4096) -> str | None:
    """An id field (``request_id``, ``client_id``) of a small JSON object, to answer unparsed messages."""
    if len(raw) > max_bytes:
        return None
    try:
        value = json.loads(raw).get(name)
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str) and _ID_RE.match(value) else None
