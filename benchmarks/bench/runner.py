"""Run one scenario against one server and return the report's ``run`` object.

Phases: workers start and load their clips; participants join at ``ramp`` joins/s
across all workers; once every subscriber receives every track it expects (or
after a timeout, recorded as an error) the measured window opens for ``duration``
seconds, with one timeline point a second; then the figures are collected.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp

from . import metrics
from .clips import audio_clip, default_cache_dir, video_clip
from .plan import ParticipantPlan, plan_participants
from .results import RunContext, build_run
from .scenarios import Scenario, Target
from .tokens import TokenSource, metrics_headers
from .workers import WorkerPool

Progress = Callable[[dict[str, Any]], None]
READY_GRACE = 30.0  # after the last planned join
STATUS_INTERVAL = 0.5
RAMP_START_DELAY = 0.5
CHAT_DELIVERY_GRACE = 0.5
METRICS_TOKEN_MARGIN = 600.0  # seconds the /metrics token outlives the planned run
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _worker_specs(
    scenario: Scenario,
    target: Target,
    plans: list[ParticipantPlan],
    run_tag: str,
    cache_dir: Path,
    delay: float,
) -> list[dict[str, Any]]:
    count = max(1, min(scenario.processes, len(plans)))
    video = None if scenario.sent_video is None else asdict(scenario.sent_video)
    common = {
        "url": target.url.rstrip("/"),
        "tokens": asdict(TokenSource.for_target(target)),
        "video": video,
        "audio": scenario.sends_audio,
        "cache_dir": str(cache_dir),
        "run_tag": run_tag,
        "seed": scenario.seed,
        "loopback": urlparse(target.url).hostname in LOOPBACK_HOSTS,
        "delay": delay,
    }
    return [{**common, "participants": [p.to_json() for p in plans[i::count]]} for i in range(count)]


def _prepare_clips(scenario: Scenario, cache: Path) -> None:
    if scenario.sent_video is not None:
        video_clip(scenario.sent_video, cache)
    if scenario.sends_audio:
        audio_clip(cache)


class _Window:
    """The measured window's timeline: one point a second from the workers and /metrics."""

    def __init__(self, pool: WorkerPool, http: aiohttp.ClientSession, metrics_url: str) -> None:
        self.pool = pool
        self.http = http
        self.metrics_url = metrics_url
        self.points: list[dict[str, Any]] = []
        self._last_tick = {"packets": 0, "bytes": 0, "expected": 0}
        self._last_scrape: metrics.Scrape | None = None
        self.started = 0.0
        self._last_at = 0.0
        self.client_cpu: list[float] = []

    async def open(self) -> metrics.Scrape | None:
        first = self._last_scrape = await metrics.scrape(self.http, self.metrics_url)
        self.started = self._last_at = time.time()
        self.client_cpu = self.pool.cpu_seconds()
        await self.pool.all("start")
        return first

    def client_cores(self, ended: float) -> list[float]:
        """CPU of each worker process over the window (1.0 = one core): a saturated client shows here."""
        elapsed = max(ended - self.started, 1e-9)
        return [
            round((b - a) / elapsed, 3) for a, b in zip(self.client_cpu, self.pool.cpu_seconds(), strict=True)
        ]

    async def point(self) -> dict[str, Any]:
        ticks, reading = await asyncio.gather(
            self.pool.all("tick"), metrics.scrape(self.http, self.metrics_url)
        )
        now = time.time()
        total = {k: sum(t[k] for t in ticks) for k in ("packets", "bytes", "expected")}
        delta = {k: total[k] - self._last_tick[k] for k in total}
        elapsed = max(now - self._last_at, 1e-9)
        cpu = packets_out = None
        if reading is not None and self._last_scrape is not None:
            cpu, packets_out = metrics.rates(self._last_scrape, reading)
        point = {
            "t": round(now - self.started, 3),
            "bitrate_kbps": round(delta["bytes"] * 8 / 1000 / elapsed, 3),
            "loss": round(max(delta["expected"] - delta["packets"], 0) / delta["expected"], 6)
            if delta["expected"] > 0
            else 0.0,
            "packets_received": delta["packets"],
            "server_cpu": cpu,
            "server_packets_out_per_s": packets_out,
        }
        self.points.append(point)
        self._last_tick, self._last_scrape, self._last_at = total, reading, now
        return point


async def run_scenario(
    scenario: Scenario,
    target: Target,
    progress: Progress | None = None,
    *,
    cache_dir: Path | None = None,
    delay: float = 0.0,
) -> dict[str, Any]:
    """Measure ``scenario`` on ``target``; ``delay`` holds every published packet that long (tests)."""
    report = progress or (lambda _: None)
    run_tag = secrets.token_hex(4)
    plans = plan_participants(scenario, f"bench-{run_tag}")
    cache = cache_dir or default_cache_dir()
    specs = _worker_specs(scenario, target, plans, run_tag, cache, delay)
    metrics_url = target.metrics_url or target.url.rstrip("/") + "/metrics"
    errors: Counter[str] = Counter()
    messages: dict[str, str] = {}
    began = time.monotonic()
    lifetime = METRICS_TOKEN_MARGIN + len(plans) / scenario.ramp + scenario.duration
    async with aiohttp.ClientSession(headers=metrics_headers(target, lifetime)) as http:  # /metrics only
        report({"phase": "starting", "joined": 0, "total": len(plans), "elapsed": 0.0})
        # Encoded here, once, before the workers load them from the cache.
        await asyncio.to_thread(_prepare_clips, scenario, cache)
        async with WorkerPool(specs) as pool:
            t0 = time.time() + RAMP_START_DELAY
            await pool.all("join", t0=t0)
            deadline = time.monotonic() + RAMP_START_DELAY + plans[-1].join_offset + READY_GRACE
            while True:
                statuses = await pool.all("status")
                joined = sum(s["joined"] for s in statuses)
                report(
                    {
                        "phase": "joining",
                        "joined": joined,
                        "total": len(plans),
                        "elapsed": time.monotonic() - began,
                    }
                )
                if all(s["ready"] for s in statuses):
                    break
                if time.monotonic() > deadline:
                    errors["ready_timeout"] += 1
                    messages["ready_timeout"] = "not every subscriber received every expected track in time"
                    break
                await asyncio.sleep(STATUS_INTERVAL)

            window = _Window(pool, http, metrics_url)
            first = await window.open()
            for second in range(1, int(scenario.duration) + 1):
                await asyncio.sleep(max(window.started + second - time.time(), 0))
                point = await window.point()
                report(
                    {
                        "phase": "measuring",
                        "joined": joined,
                        "total": len(plans),
                        "elapsed": time.monotonic() - began,
                        "window": point["t"],
                        "packets_per_s": point["packets_received"],
                        "loss": point["loss"],
                    }
                )
            await asyncio.sleep(max(window.started + scenario.duration - time.time(), 0))
            last = await metrics.scrape(http, metrics_url)
            ended = (await pool.all("end"))[0]["at"]
            client_cores = window.client_cores(ended)
            if scenario.chat_rate > 0:
                # Every sender has its acks; a message acked is delivered to the others about
                # as fast, but to other processes: give those deliveries a moment too.
                await pool.all("settle")
                await asyncio.sleep(CHAT_DELIVERY_GRACE)
            results = await pool.all("results")
    server = metrics.server_figures(first, last) if first is not None and last is not None else None
    if server is None:
        errors["metrics_unreachable"] += 1
        messages["metrics_unreachable"] = f"could not read {metrics_url}: no server figures"
    context = RunContext(
        target=target.url,
        label=target.name,
        load=scenario.to_json(),
        window_s=ended - window.started,
        server=server,
        timeline=window.points,
        errors=errors,
        messages=messages,
    )
    report({"phase": "done", "joined": joined, "total": len(plans), "elapsed": time.monotonic() - began})
    run = build_run(context, results)
    run["clients"] = {"processes": len(specs), "cpu_cores": client_cores}
    return run
