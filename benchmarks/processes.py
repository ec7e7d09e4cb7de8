"""Child processes of a benchmark run, and the CPU time each one has used.

CPU time is read from the kernel's own accounting (``/proc/<pid>/stat``,
utime + stime over all threads) so that what is measured is what the process
really spent, whatever it does inside (decoder threads, executors, GC).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from .bench.metrics import parse_prometheus

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STOP_TIMEOUT = 10.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` and all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name (field 2) may contain spaces; count fields after its ')'.
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


@dataclass(frozen=True)
class MachineCpu:
    """Whole-machine CPU seconds from /proc/stat, summed over cores."""

    processes: float  # user + nice + system: charged to some process
    interrupts: float  # irq + softirq: much of loopback UDP delivery runs here, charged to nobody


def machine_cpu() -> MachineCpu:
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in f.readline().split()[1:8])
    return MachineCpu((user + nice + system) / CLOCK_TICKS, (irq + softirq) / CLOCK_TICKS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class WorkerError(RuntimeError):
    """A worker process exited, reported an error, or did not answer in time."""


async def read_message(
    process: asyncio.subprocess.Process, log: Path, timeout: float, name: str = "worker"
) -> dict[str, Any]:
    """The next JSON line a worker writes on stdout; its ``{"event": "error"}`` is raised."""
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout)
    except TimeoutError:
        raise WorkerError(f"{name} did not answer within {timeout} s; log:\n{log_tail(log)}") from None
    if not line:
        raise WorkerError(f"{name} exited; log:\n{log_tail(log)}")
    message = json.loads(line)
    if message.get("event") == "error":
        raise WorkerError(f"{name} failed: {message['message']}; log:\n{log_tail(log)}")
    return message


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """Terminate, and kill if it has not gone within ``STOP_TIMEOUT`` seconds."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)


@dataclass
class ServerProcess:
    """An HTTP server started by the benchmark, on 127.0.0.1."""

    process: asyncio.subprocess.Process
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    async def metrics(self, session: aiohttp.ClientSession) -> dict[str, float]:
        """The server's /metrics, Prometheus text format, as name -> value."""
        timeout = aiohttp.ClientTimeout(total=10)
        async with session.get(self.url + "/metrics", timeout=timeout) as response:
            response.raise_for_status()
            return parse_prometheus(await response.text())


async def wait_healthy(url: str, process: asyncio.subprocess.Process, log: Path, timeout: float) -> None:
    """Poll ``url``/healthz until it answers 200; fail with the log's tail if ``process`` exits first."""

    async def poll() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while process.returncode is None:
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with session.get(url + "/healthz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
            raise RuntimeError(f"exited with {process.returncode}")

    try:
        await asyncio.wait_for(poll(), timeout)
    except (TimeoutError, RuntimeError) as exc:
        message = f"server at {url} did not become healthy ({exc or 'timeout'}); log:\n{log_tail(log)}"
        raise RuntimeError(message) from exc


@contextlib.asynccontextmanager
async def server_process(
    command: list[str], port: int, log: Path, startup_timeout: float = 30.0
) -> AsyncIterator[ServerProcess]:
    """Run ``command`` (which must serve /healthz on ``port``) and stop it at the end."""
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=asyncio.subprocess.STDOUT
        )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        await wait_healthy(server.url, process, log, startup_timeout)
        yield server
    finally:
        await stop_process(process)
