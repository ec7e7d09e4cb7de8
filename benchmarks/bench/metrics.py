"""The server's own counters, scraped from its Prometheus /metrics endpoint."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp

SCRAPE_TIMEOUT = aiohttp.ClientTimeout(total=5)

CPU = "process_cpu_seconds_total"
RSS = "process_resident_memory_bytes"
PACKETS_IN = "huddle_rtp_packets_in_total"
PACKETS_OUT = "huddle_rtp_packets_out_total"
ROOMS = "huddle_rooms"
PARTICIPANTS = "huddle_participants"


def parse_prometheus(text: str) -> dict[str, float]:
    """Sample name (with labels, if any) -> value; comments and malformed lines skipped."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.rpartition(" ")
        if not name:
            continue
        try:
            values[name.strip()] = float(rest)
        except ValueError:
            continue
    return values


@dataclass(frozen=True)
class Scrape:
    at: float  # wall clock, when the answer came
    values: dict[str, float]

    def get(self, name: str) -> float:
        return self.values.get(name, 0.0)


async def scrape(session: aiohttp.ClientSession, url: str) -> Scrape | None:
    """One reading, or None if the endpoint cannot be read."""
    try:
        async with session.get(url, timeout=SCRAPE_TIMEOUT) as response:
            if response.status != 200:
                return None
            text = await response.text()
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None
    values = parse_prometheus(text)
    return Scrape(time.time(), values) if PACKETS_OUT in values or CPU in values else None


def server_figures(start: Scrape, end: Scrape) -> dict[str, Any]:
    """The run's ``server`` object: deltas over the window, gauges at its end."""
    cpu = end.get(CPU) - start.get(CPU)
    packets_out = int(end.get(PACKETS_OUT) - start.get(PACKETS_OUT))
    window = max(end.at - start.at, 1e-9)
    return {
        "cpu_seconds": round(cpu, 4),
        "packets_in": int(end.get(PACKETS_IN) - start.get(PACKETS_IN)),
        "packets_out": packets_out,
        "rss_bytes": int(end.get(RSS)),
        "rooms": int(end.get(ROOMS)),
        "participants": int(end.get(PARTICIPANTS)),
        "cpu_us_per_forwarded_packet": round(cpu / packets_out * 1e6, 3) if packets_out > 0 else None,
        "cpu_cores": round(cpu / window, 4),
    }


def rates(previous: Scrape, current: Scrape) -> tuple[float, float]:
    """(CPU cores, packets out per second) between two readings."""
    elapsed = max(current.at - previous.at, 1e-9)
    cpu = (current.get(CPU) - previous.get(CPU)) / elapsed
    packets = (current.get(PACKETS_OUT) - previous.get(PACKETS_OUT)) / elapsed
    return round(cpu, 4), round(packets, 1)
