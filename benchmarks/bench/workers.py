"""The runner's side of the worker processes: start them, send commands, stop them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.processes import cpu_seconds, read_message, stop_process

LOAD_TIMEOUT = 300.0  # the first run encodes the clips
COMMAND_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


class WorkerProcess:
    """One ``python -m benchmarks.bench.worker`` child; stderr goes to a log file."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls, spec: dict[str, Any], log_dir: Path, index: int) -> WorkerProcess:
        log = log_dir / f"worker-{index}.log"
        with log.open("wb") as errors:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.bench.worker",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
                limit=2**26,
            )
        worker = cls(process, log)
        assert process.stdin is not None
        process.stdin.write((json.dumps(spec) + "\n").encode())
        return worker

    async def read(self, timeout: float) -> dict[str, Any]:
        return await read_message(self.process, self.log, timeout)

    async def command(self, name: str, timeout: float = COMMAND_TIMEOUT, **fields: Any) -> dict[str, Any]:
        async with self._lock:
            assert self.process.stdin is not None
            self.process.stdin.write((json.dumps({"cmd": name, **fields}) + "\n").encode())
            await self.process.stdin.drain()
            return await self.read(timeout)

    async def stop(self) -> None:
        """Ask it to leave its rooms politely; terminate it if it does not exit in time."""
        if self.process.returncode is None and self.process.stdin is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                self.process.stdin.write(b'{"cmd": "stop"}\n')
                self.process.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        await stop_process(self.process)


class WorkerPool:
    """Every worker of a run; an async context manager that always stops them."""

    def __init__(self, specs: list[dict[str, Any]]) -> None:
        self.specs = specs
        self.workers: list[WorkerProcess] = []
        self._logs = tempfile.TemporaryDirectory(prefix="huddle-bench-")

    async def __aenter__(self) -> WorkerPool:
        try:
            for index, spec in enumerate(self.specs):
                self.workers.append(await WorkerProcess.start(spec, Path(self._logs.name), index))
            await asyncio.gather(*(w.read(LOAD_TIMEOUT) for w in self.workers))
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)
        self._logs.cleanup()

    def cpu_seconds(self) -> list[float]:
        """CPU seconds each worker has used so far (0 for one that has exited)."""
        used = []
        for worker in self.workers:
            try:
                used.append(cpu_seconds(worker.process.pid))
            except OSError:
                used.append(0.0)
        return used

    async def all(self, name: str, timeout: float = COMMAND_TIMEOUT, **fields: Any) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(w.command(name, timeout, **fields) for w in self.workers)))
