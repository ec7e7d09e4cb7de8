"""The forwarding benchmark: CPU per forwarded RTP packet, Huddle against aiortc's MediaRelay.

    python -m benchmarks.forwarding [--seconds N] [--scenarios 1x1 1x20 ...] [--json out.json]

Each scenario starts a fresh server as its own process on 127.0.0.1 (``huddle
serve``, or ``benchmarks.relay_baseline`` for MediaRelay), then client worker
processes (:mod:`benchmarks.clients`): publishers replay a pre-encoded clip,
subscribers count RTP packets without decoding. After a warm-up, two samples a
measurement window apart give:

* the server's CPU time, from ``/proc/<pid>/stat`` (utime + stime, all threads);
* packets forwarded, from the server's own counter (``/metrics``), checked
  against what the subscribers counted;
* loss, from RTP sequence numbers at the subscribers, per stream.

These are figures, not tests: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
import aiortc

from .clients import ParticipantSpec, WorkerSpec
from .clips import benchmark_clips, packets_per_second
from .counting import LossFigures, Snapshot, StreamSnapshot, loss_between, merge, video_frame_rates
from .processes import (
    MachineCpu,
    ServerProcess,
    cpu_seconds,
    free_port,
    machine_cpu,
    read_message,
    server_process,
    stop_process,
)

HUDDLE = "huddle"
RELAY = "relay"
SERVER_LABELS = {HUDDLE: "Huddle", RELAY: "aiortc MediaRelay"}
PACKETS_OUT_METRIC = {HUDDLE: "huddle_rtp_packets_out_total", RELAY: "relay_rtp_packets_out_total"}
WORKER_TIMEOUT = 90.0  # joining and reaching a steady flow, per client worker
COMMAND_TIMEOUT = 15.0
SCENARIO_OVERHEAD_LIMIT = 240.0  # starting and stopping everything, beyond warm-up and window


@dataclass(frozen=True)
class Scenario:
    name: str
    publishers: int
    subscribers: int  # participants that only subscribe
    mesh: bool = False  # every participant publishes and subscribes


SCENARIOS = {
    "1x1": Scenario("1x1", 1, 1),
    "1x5": Scenario("1x5", 1, 5),
    "1x10": Scenario("1x10", 1, 10),
    "1x20": Scenario("1x20", 1, 20),
    "4x4": Scenario("4x4", 4, 0, mesh=True),
}
# MediaRelay decodes once and encodes per subscriber: on 2 cores it saturates at
# about 5 subscribers, so it is only run where its figures still mean something.
RELAY_SCENARIOS = ["1x1", "1x5"]


# --- planning the client processes -------------------------------------------------


def _split(items: list[ParticipantSpec], parts: int) -> list[list[ParticipantSpec]]:
    parts = max(1, min(parts, len(items)))
    return [items[i::parts] for i in range(parts)]


def plan_workers(scenario: Scenario, server: str, url: str, processes: int) -> list[list[WorkerSpec]]:
    """Stages of client workers; each stage is ready before the next one starts.

    Publishers come first, on their own, so that subscribers join a room that
    already has tracks and the publishers' pacing is not disturbed by counting.
    """
    room = f"bench-{scenario.name}"
    if scenario.mesh:
        expected = 2 * (scenario.publishers - 1)
        everyone = [ParticipantSpec(f"peer{i}", True, expected) for i in range(scenario.publishers)]
        return [[WorkerSpec(server, url, room, group) for group in _split(everyone, processes)]]
    publishers = [ParticipantSpec(f"pub{i}", True, 0) for i in range(scenario.publishers)]
    subscribers = [
        ParticipantSpec(f"sub{i}", False, 2 * scenario.publishers) for i in range(scenario.subscribers)
    ]
    return [
        [WorkerSpec(server, url, room, publishers)],
        [WorkerSpec(server, url, room, group) for group in _split(subscribers, processes)],
    ]


# --- client workers ------------------------------------------------------------------


class ClientWorker:
    """A ``benchmarks.clients`` process, spoken to line by line."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    @classmethod
    async def start(cls, spec: WorkerSpec, log: Path) -> ClientWorker:
        with log.open("wb") as errors:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.clients",
                spec.to_json(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
            )
        return cls(process, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def _read(self, timeout: float) -> dict:
        return await read_message(self.process, self.log, timeout, "client worker")

    async def ready(self) -> None:
        message = await self._read(WORKER_TIMEOUT)
        if message.get("event") != "ready":
            raise RuntimeError(f"unexpected message from client worker: {message}")

    async def snapshot(self) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write(b"snapshot\n")
        await self.process.stdin.drain()
        return await self._read(COMMAND_TIMEOUT)

    async def stop(self) -> None:
        try:
            if self.process.returncode is None and self.process.stdin is not None:
                self.process.stdin.write(b"stop\n")
                await self.process.stdin.drain()
                await asyncio.wait_for(self.process.wait(), 20)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            await stop_process(self.process)


# --- sampling --------------------------------------------------------------------------


@dataclass
class Sample:
    time: float
    server_cpu: float
    client_cpu: list[float]
    own_cpu: float  # this orchestrating process
    machine: MachineCpu
    packets_out: float
    streams: Snapshot
    replayed: int


async def take_sample(
    server: ServerProcess, workers: list[ClientWorker], http: aiohttp.ClientSession, metric: str
) -> Sample:
    reports, metrics = await asyncio.gather(
        asyncio.gather(*(w.snapshot() for w in workers)), server.metrics(http)
    )
    streams = merge(
        [{key: StreamSnapshot(*value) for key, value in report["streams"].items()} for report in reports]
    )
    return Sample(
        time=time.monotonic(),
        server_cpu=server.cpu_seconds(),
        client_cpu=[cpu_seconds(w.pid) for w in workers],
        own_cpu=cpu_seconds(os.getpid()),
        machine=machine_cpu(),
        packets_out=metrics[metric],
        streams=streams,
        replayed=sum(report["replayed"] for report in reports),
    )


@dataclass
class Result:
    scenario: str
    server: str
    seconds: float
    packets_forwarded: int
    packets_counted: int
    packets_per_s: float
    cpu_us_per_packet: float
    server_cpu_cores: float
    client_cpu_cores: list[float]
    other_cpu_cores: float  # other processes busy on the machine during the window
    interrupt_cpu_cores: float  # the kernel's irq and softirq time, machine-wide
    replayed_per_s: float
    loss: LossFigures
    video_fps_mean: float
    video_fps_min: float
    ratio_vs_relay: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def loss_percent(self) -> float:
        return 100.0 * self.loss.loss


def summarize(scenario: Scenario, server: str, before: Sample, after: Sample) -> Result:
    seconds = after.time - before.time
    forwarded = int(after.packets_out - before.packets_out)
    loss = loss_between(before.streams, after.streams)
    cpu = after.server_cpu - before.server_cpu
    clients = [b - a for a, b in zip(before.client_cpu, after.client_cpu, strict=True)]
    ours = cpu + sum(clients) + after.own_cpu - before.own_cpu
    fps = video_frame_rates(before.streams, after.streams, seconds) or [float("nan")]
    return Result(
        scenario=scenario.name,
        server=server,
        seconds=round(seconds, 2),
        packets_forwarded=forwarded,
        packets_counted=loss.received,
        packets_per_s=forwarded / seconds,
        cpu_us_per_packet=1e6 * cpu / forwarded if forwarded else float("nan"),
        server_cpu_cores=cpu / seconds,
        client_cpu_cores=[c / seconds for c in clients],
        other_cpu_cores=max(after.machine.processes - before.machine.processes - ours, 0.0) / seconds,
        interrupt_cpu_cores=(after.machine.interrupts - before.machine.interrupts) / seconds,
        replayed_per_s=(after.replayed - before.replayed) / seconds,
        loss=loss,
        video_fps_mean=sum(fps) / len(fps),
        video_fps_min=min(fps),
    )


# --- running one scenario ----------------------------------------------------------------


def server_command(server: str, port: int, workdir: Path) -> list[str]:
    if server == HUDDLE:
        # ``huddle serve``, through the installed console script when there is one.
        script = Path(sys.executable).with_name("huddle")
        huddle = [str(script)] if script.exists() else [sys.executable, "-m", "signalling.cli"]
        data_dir = workdir / f"data-{port}"
        return [*huddle, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
                "--log-level", "WARNING"]  # fmt: skip
    return [sys.executable, "-m", "benchmarks.relay_baseline", "--host", "127.0.0.1", "--port", str(port)]


_STARTED = time.monotonic()


def _progress(message: str) -> None:
    print(f"  [{time.monotonic() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


async def _start_stages(
    stages: list[list[WorkerSpec]], logs: str, workdir: Path, workers: list[ClientWorker]
) -> None:
    for stage in stages:
        started = []
        for spec in stage:
            log = workdir / f"{logs}-client-{len(workers)}.log"
            worker = await ClientWorker.start(spec, log)
            workers.append(worker)
            started.append(worker)
        await asyncio.gather(*(w.ready() for w in started))


async def run_scenario(
    scenario: Scenario, server: str, seconds: float, warmup: float, processes: int, workdir: Path
) -> Result:
    port = free_port()
    logs = f"{server}-{scenario.name}"
    async with (
        server_process(server_command(server, port, workdir), port, workdir / f"{logs}.log") as running,
        aiohttp.ClientSession() as http,
    ):
        workers: list[ClientWorker] = []
        try:
            _progress("server up")
            stages = plan_workers(scenario, server, running.url, processes)
            await _start_stages(stages, logs, workdir, workers)
            _progress("media flowing to every subscriber")
            await asyncio.sleep(warmup)
            metric = PACKETS_OUT_METRIC[server]
            before = await take_sample(running, workers, http, metric)
            await asyncio.sleep(seconds)
            after = await take_sample(running, workers, http, metric)
        finally:
            await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
            _progress("clients stopped")
    _progress("server stopped")
    result = summarize(scenario, server, before, after)
    expected_streams = (
        2 * scenario.publishers * (scenario.publishers - 1 if scenario.mesh else scenario.subscribers)
    )
    if result.loss.streams != expected_streams:
        result.notes.append(f"{result.loss.streams} of {expected_streams} streams measured")
    return result


# --- reporting -----------------------------------------------------------------------------


def attach_ratios(results: list[Result]) -> None:
    """Huddle's CPU per packet over MediaRelay's, for each scenario both were run in."""
    relay = {r.scenario: r for r in results if r.server == RELAY}
    for result in results:
        baseline = relay.get(result.scenario)
        if baseline is not None and baseline.cpu_us_per_packet > 0:
            result.ratio_vs_relay = result.cpu_us_per_packet / baseline.cpu_us_per_packet


def _ratio_text(result: Result) -> str:
    if result.ratio_vs_relay is None:
        return "-"
    if result.server == RELAY:
        return "1"
    return f"{result.ratio_vs_relay:.3f} ({1 / result.ratio_vs_relay:.0f}x less)"


def markdown_table(results: list[Result]) -> str:
    header = [
        "scenario",
        "server",
        "packets/s",
        "CPU us/packet",
        "loss %",
        "ratio vs MediaRelay",
        "server CPU (cores)",
        "client CPU (cores, per process)",
        "softirq, machine (cores)",
        "other processes (cores)",
        "subscribers counted / forwarded",
        "video fps at subscribers (min)",
    ]
    rows = [header, ["---"] * len(header)]
    for r in results:
        counted = r.packets_counted / r.packets_forwarded if r.packets_forwarded else float("nan")
        rows.append(
            [
                r.scenario,
                SERVER_LABELS[r.server],
                f"{r.packets_per_s:,.0f}",
                f"{r.cpu_us_per_packet:,.1f}",
                f"{r.loss_percent:.3f}",
                _ratio_text(r),
                f"{r.server_cpu_cores:.2f}",
                " + ".join(f"{c:.2f}" for c in r.client_cpu_cores),
                f"{r.interrupt_cpu_cores:.2f}",
                f"{r.other_cpu_cores:.2f}",
                f"{100 * counted:.2f} %",
                f"{r.video_fps_mean:.1f} ({r.video_fps_min:.1f})",
            ]
        )
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")


def environment() -> dict[str, object]:
    video, audio = benchmark_clips()
    return {
        "python": platform.python_version(),
        "aiortc": aiortc.__version__,
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpus": len(os.sched_getaffinity(0)),
        "publisher_packets_per_s": {
            "video": round(packets_per_second(video), 1),
            "audio": round(packets_per_second(audio), 1),
        },
    }


def write_json(path: Path, results: list[Result], failures: list[str], args: argparse.Namespace) -> None:
    data = {
        "command": " ".join(["python -m benchmarks.forwarding", *sys.argv[1:]]),
        "arguments": {k: v for k, v in vars(args).items() if k != "json"},
        "environment": environment(),
        "results": [asdict(r) | {"loss_percent": r.loss_percent} for r in results],
        "marginal_costs": marginal_costs(results),
        "failures": failures,
    }
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


# --- command line ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.forwarding", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window per scenario")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of steady flow before measuring")
    parser.add_argument(
        "--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS), help="Huddle scenarios"
    )
    parser.add_argument(
        "--relay-scenarios",
        nargs="*",
        default=RELAY_SCENARIOS,
        choices=list(SCENARIOS),
        help="MediaRelay baseline scenarios (none to skip)",
    )
    parser.add_argument(
        "--client-processes", type=int, default=2, help="processes the subscribers are spread over"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def _planned(args: argparse.Namespace) -> list[tuple[Scenario, str]]:
    runs = [(SCENARIOS[name], HUDDLE) for name in args.scenarios]
    for name in args.relay_scenarios:
        if SCENARIOS[name].mesh:
            raise SystemExit(f"the MediaRelay baseline takes one publisher; {name} has several")
        runs.append((SCENARIOS[name], RELAY))
    return runs


def marginal_costs(results: list[Result]) -> list[str]:
    """CPU per extra forwarded packet between the smallest and largest 1xN run of each server.

    The per-packet figure of a small room carries the fixed costs (receiving the
    publisher, RTCP, timers); the slope shows what one more subscriber costs.
    """
    lines = []
    for server in (HUDDLE, RELAY):
        runs = sorted(
            (r for r in results if r.server == server and not SCENARIOS[r.scenario].mesh),
            key=lambda r: r.packets_per_s,
        )
        if len(runs) < 2:
            continue
        low, high = runs[0], runs[-1]
        cpu = high.server_cpu_cores - low.server_cpu_cores
        packets = high.packets_per_s - low.packets_per_s
        if packets > 0:
            lines.append(
                f"{SERVER_LABELS[server]}: {1e6 * cpu / packets:,.1f} us of CPU per extra forwarded packet "
                f"({low.scenario} to {high.scenario})"
            )
    return lines


async def run_one(scenario: Scenario, server: str, args: argparse.Namespace, workdir: Path) -> Result:
    print(f"running {SERVER_LABELS[server]} {scenario.name} ...", file=sys.stderr, flush=True)
    limit = args.warmup + args.seconds + SCENARIO_OVERHEAD_LIMIT
    result = await asyncio.wait_for(
        run_scenario(scenario, server, args.seconds, args.warmup, args.client_processes, workdir), limit
    )
    print(
        f"  {result.packets_per_s:,.0f} packets/s, {result.cpu_us_per_packet:.1f} us/packet, "
        f"loss {result.loss_percent:.3f} %",
        file=sys.stderr,
        flush=True,
    )
    return result


def _cancel_on_sigterm() -> None:
    """Let SIGTERM unwind like Ctrl-C does, so that every child process is stopped."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


async def run(args: argparse.Namespace) -> tuple[list[Result], list[str]]:
    """Every planned scenario; one that fails is reported and the others still run."""
    _cancel_on_sigterm()
    benchmark_clips()  # encode once, before any timing
    results, failures = [], []
    with tempfile.TemporaryDirectory(prefix="huddle-bench-") as tmp:
        for scenario, server in _planned(args):
            try:
                results.append(await run_one(scenario, server, args, Path(tmp)))
            except Exception as exc:
                failures.append(
                    f"{SERVER_LABELS[server]} {scenario.name} failed: {type(exc).__name__}: {exc}"
                )
                print(f"  {failures[-1]}", file=sys.stderr, flush=True)
    attach_ratios(results)
    return results, failures


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        results, failures = asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit("interrupted; every server and client process has been stopped")
    print(markdown_table(results))
    extra = marginal_costs(results) + [
        f"{SERVER_LABELS[r.server]} {r.scenario}: {note}" for r in results for note in r.notes
    ]
    for line in extra + failures:
        print(f"\n{line}")
    if args.json:
        write_json(args.json, results, failures, args)
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
