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
# Disconnect a signalling client that keeps sending over FLOOD_FACTOR times its sustained rate
# for FLOOD_SECONDS (after the second it takes to use up one second's worth of that rate).
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

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.rate.burst, self._tokens + (now - self._updated) * self.rate.per_second)
        self._updated = now


class FloodDetector:
    """True once a client has sent faster than ``limit`` per second for ``seconds`` without a pause.

    A bucket holding one second of ``limit`` runs dry only when the client is over
    ``limit``; the flood starts then and ends when the bucket is half full again.
    """

    def __init__(self, limit: float, seconds: float, clock: Clock = time.monotonic) -> None:
        self._bucket = TokenBucket(Rate(per_second=limit, burst=limit), clock)
        self._seconds = seconds
        self._clock = clock
        self._since: float | None = None

    def count(self) -> bool:
        now = self._clock()
        took = self._bucket.take()
        if self._bucket.tokens >= self._bucket.rate.burst / 2:
            self._since = None
        elif not took and self._since is None:
            self._since = now
        return self._since is not None and now - self._since >= self._seconds


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

    def exhausted(self, key: str) -> bool:
        """Whether ``key``'s bucket has no token left (without taking one)."""
        bucket = self._buckets.get(key)
        return bucket is not None and bucket.tokens < 1

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
