"""Small statistics the bench reports: percentiles, RFC 3550 jitter, bounded sample sets."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterable
from typing import Any

MAX_SAMPLES = 2000


def percentiles(values: Iterable[float]) -> dict[str, Any]:
    """The schema's ``percentiles`` object (nearest-rank); all null when there are no values."""
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}

    def rank(p: float) -> float:
        return round(ordered[max(math.ceil(p * len(ordered)) - 1, 0)], 3)

    return {
        "count": len(ordered),
        "p50": rank(0.50),
        "p95": rank(0.95),
        "p99": rank(0.99),
        "max": round(ordered[-1], 3),
        "mean": round(sum(ordered) / len(ordered), 3),
    }


class Jitter:
    """RFC 3550 section 6.4.1 interarrival jitter, in the codec's clock units."""

    __slots__ = ("clock_rate", "value", "_last_transit")

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self.value = 0.0
        self._last_transit: int | None = None

    def add(self, arrival_s: float, rtp_timestamp: int) -> None:
        transit = int(arrival_s * self.clock_rate) - rtp_timestamp
        if self._last_transit is not None:
            d = abs(transit - self._last_transit)
            if d < 0x80000000:  # not a timestamp wrap or a new stream
                self.value += (d - self.value) / 16
        self._last_transit = transit

    @property
    def ms(self) -> float:
        return self.value * 1000 / self.clock_rate


class Samples:
    """Up to ``MAX_SAMPLES`` values kept by reservoir sampling, plus exact count, sum and max."""

    __slots__ = ("kept", "count", "total", "maximum", "_rng")

    def __init__(self, seed: int = 0) -> None:
        self.kept: list[float] = []
        self.count = 0
        self.total = 0.0
        self.maximum: float | None = None
        self._rng = random.Random(seed)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.maximum = value if self.maximum is None else max(self.maximum, value)
        if len(self.kept) < MAX_SAMPLES:
            self.kept.append(value)
        else:
            slot = self._rng.randrange(self.count)
            if slot < MAX_SAMPLES:
                self.kept[slot] = value

    def to_json(self) -> dict[str, Any]:
        return {
            "kept": [round(v, 3) for v in self.kept],
            "count": self.count,
            "total": self.total,
            "max": self.maximum,
        }


def merged_summary(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Percentiles over several ``Samples.to_json()`` sets, each weighted by its real count."""
    weighted: list[tuple[float, float]] = []
    count = 0
    total = 0.0
    maximum: float | None = None
    for part in parts:
        if not part["count"]:
            continue
        weight = part["count"] / len(part["kept"])
        weighted += [(v, weight) for v in part["kept"]]
        count += part["count"]
        total += part["total"]
        maximum = part["max"] if maximum is None else max(maximum, part["max"])
    if not weighted:
        return percentiles([])
    weighted.sort()

    def rank(p: float) -> float:
        goal = p * count
        running = 0.0
        for value, weight in weighted:
            running += weight
            if running >= goal - 1e-9:
                return round(value, 3)
        return round(weighted[-1][0], 3)

    return {
        "count": count,
        "p50": rank(0.50),
        "p95": rank(0.95),
        "p99": rank(0.99),
        "max": round(maximum or 0.0, 3),
        "mean": round(total / count, 3),
    }


HISTOGRAM_EDGES_MS = [
    0,
    1,
    2,
    3,
    5,
    7.5,
    10,
    15,
    20,
    30,
    50,
    75,
    100,
    150,
    200,
    300,
    500,
    750,
    1000,
    2000,
    5000,
]


def merged_histogram(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Counts per latency bin over several ``Samples.to_json()`` sets, kept values weighted by real counts.

    The last bin is open-ended up to the largest sample.
    """
    values = [(v, part["count"] / len(part["kept"])) for part in parts if part["count"] for v in part["kept"]]
    if not values:
        return None
    largest = max(part["max"] for part in parts if part["count"])
    edges = [e for e in HISTOGRAM_EDGES_MS if e < largest] + [largest]
    if len(edges) < 2:
        edges = [0, largest or 1]
    counts = [0.0] * (len(edges) - 1)
    for value, weight in values:
        index = bisect.bisect_right(edges, value) - 1
        counts[min(max(index, 0), len(counts) - 1)] += weight
    return {"edges_ms": [round(e, 3) for e in edges], "counts": [round(c) for c in counts]}
