"""``--compare``: one scenario against two servers in alternation (A B A B ...), and the ratios B / A.

Alternating rounds spread a noisy machine's slow moments over both servers; the median of the
per-round ratios is what the report gives. A side is a running server (a URL) or a server this
module starts for each run from a command or a Huddle checkout and stops afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ..processes import free_port, wait_healthy
from .scenarios import Scenario, Target

RunScenario = Callable[..., Awaitable[dict[str, Any]]]  # runner.run_scenario(scenario, target, progress=...)
STOP_TIMEOUT = 10.0
STARTUP_TIMEOUT = 60.0


@dataclass(frozen=True)
class Measure:
    """One figure compared between the two servers; lower is better for all of them."""

    key: str
    label: str
    unit: str
    scale: float  # displayed value = stored value * scale
    value: Callable[[dict[str, Any]], float | None] = field(repr=False, compare=False)  # read from a run


def _server_figure(key: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda run: (run.get("server") or {}).get(key)


MEASURES = (
    Measure(
        "cpu_us_per_forwarded_packet",
        "server CPU per forwarded packet",
        "us",
        1.0,
        _server_figure("cpu_us_per_forwarded_packet"),
    ),
    Measure("cpu_cores", "server CPU", "cores", 1.0, _server_figure("cpu_cores")),
    Measure("loss", "loss", "%", 100.0, lambda run: run["totals"]["loss"]),
    Measure("latency_p95_ms", "latency p95", "ms", 1.0, lambda run: run["totals"]["latency_ms"]["p95"]),
    Measure("join_p95_s", "join time p95", "s", 1.0, lambda run: run["joins"]["join_s"]["p95"]),
)
HEADLINE = MEASURES[0]


def ratio(a: float | None, b: float | None) -> float | None:
    """b / a; 1 when both are 0 (no loss on either side), None when it has no finite value."""
    if a is None or b is None:
        return None
    if a == 0:
        return 1.0 if b == 0 else None
    return b / a


def round_ratios(run_a: dict[str, Any], run_b: dict[str, Any]) -> dict[str, float | None]:
    return {m.key: ratio(m.value(run_a), m.value(run_b)) for m in MEASURES}


def median_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def verdict(per_round: list[dict[str, float | None]], a: str, b: str) -> str:
    """One line on the headline measure: a difference counts only when every round agrees on it."""
    ratios = [r[HEADLINE.key] for r in per_round if r[HEADLINE.key] is not None]
    if not ratios:
        return f"No verdict: no round measured {HEADLINE.label} on both servers."
    median = statistics.median(ratios)
    if len(ratios) == 1:
        return f"B/A {HEADLINE.label}: {median:.2f} in a single round, too few to call a difference."
    spread = f"median of {len(ratios)} rounds, each between {min(ratios):.2f} and {max(ratios):.2f}"
    change = f"{abs(1 - median) * 100:.0f} % {'less' if median < 1 else 'more'}"
    if max(ratios) < 1 or min(ratios) > 1:
        return f"B ({b}) spends {median:.2f}x A's {HEADLINE.label} ({change}; {spread})."
    return f"No clear difference in {HEADLINE.label} between A ({a}) and B ({b}): {median:.2f}x ({spread})."


def comparison(runs: list[dict[str, Any]], a: str, b: str) -> dict[str, Any]:
    """The report's ``comparison`` object from runs ordered A, B, A, B, ..."""
    per_round = []
    for index in range(0, len(runs) - 1, 2):
        per_round.append(
            {
                "round": index // 2 + 1,
                "a_run": index,
                "b_run": index + 1,
                "ratios": round_ratios(runs[index], runs[index + 1]),
            }
        )
    ratios = {m.key: median_or_none([r["ratios"][m.key] for r in per_round]) for m in MEASURES}
    return {
        "a": a,
        "b": b,
        "rounds": len(per_round),
        "ratios": ratios,
        "per_round": per_round,
        "verdict": verdict([r["ratios"] for r in per_round], a, b),
    }


class Side(Protocol):
    label: str

    def serve(self) -> contextlib.AbstractAsyncContextManager[Target]: ...


@dataclass
class RunningServer:
    """A server someone else runs: the target as given."""

    target: Target
    label: str

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[Target]:
        yield replace(self.target, label=self.label)


@dataclass
class ServerCommand:
    """A server started for each run and stopped after it.

    ``command`` is either a Huddle checkout directory (``huddle serve`` from that tree on a free
    port) or a command line in which ``{port}`` and ``{data_dir}`` are filled in; without
    ``{port}`` the server's ``url`` must be given.
    """

    command: str
    label: str
    credentials: Target  # api key/secret or token command for the server; its url is ignored
    url: str | None = None
    startup_timeout: float = STARTUP_TIMEOUT
    pid: int | None = None  # of the server while it runs (and of its process group)

    def argv(self, port: int, data_dir: Path) -> tuple[list[str], Path | None]:
        checkout = Path(self.command)
        if checkout.is_dir():
            argv = [sys.executable, "-m", "signalling.cli", "serve", "--host", "127.0.0.1"]
            argv += ["--port", str(port), "--data-dir", str(data_dir), "--log-level", "WARNING"]
            return argv, checkout.resolve()
        if "{port}" not in self.command and self.url is None:
            raise ValueError(f"server command {self.command!r} has no {{port}} and no URL was given")
        fill = {"{port}": str(port), "{data_dir}": str(data_dir)}
        argv = []
        for part in shlex.split(self.command):
            for placeholder, value in fill.items():
                part = part.replace(placeholder, value)
            argv.append(part)
        return argv, None

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[Target]:
        port = free_port()
        with tempfile.TemporaryDirectory(prefix="huddle-bench-") as tmp:
            argv, checkout = self.argv(port, Path(tmp) / "data")
            url = self.url if self.url and "{port}" not in self.command else f"http://127.0.0.1:{port}"
            env = dict(os.environ)
            if checkout is not None:
                env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout), env.get("PYTHONPATH")]))
            log = Path(tmp) / "server.log"
            async with started(argv, log, cwd=checkout, env=env) as process:
                self.pid = process.pid
                await wait_healthy(url, process, log, self.startup_timeout)
                yield replace(self.credentials, url=url, label=self.label, metrics_url=None)


@contextlib.asynccontextmanager
async def started(
    argv: list[str], log: Path, cwd: Path | None, env: dict[str, str]
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run ``argv`` in a session of its own, so that stopping it stops whatever it started too."""
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        await stop_group(process)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


async def stop_group(process: asyncio.subprocess.Process) -> None:
    """SIGTERM to the process group, then SIGKILL to whatever is left of it after STOP_TIMEOUT.

    The group is the command and everything it started (a shell's children too), so a server
    started through a wrapper does not outlive the run.
    """

    async def group_gone() -> None:
        await process.wait()
        while True:  # no event tells when the rest of a process group has gone: poll
            if not group_alive(process.pid):
                return
            await asyncio.sleep(0.05)

    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            await asyncio.wait_for(group_gone(), STOP_TIMEOUT)
            return
        except TimeoutError:
            continue


async def run_compare(
    scenario: Scenario,
    side_a: Side,
    side_b: Side,
    run: RunScenario,
    rounds: int = 3,
    progress: Callable[..., Any] | None = None,
    announce: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run ``scenario`` ``rounds`` times on each side, A then B each round; the runs and the comparison."""
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    runs: list[dict[str, Any]] = []
    for number in range(1, rounds + 1):
        for name, side in (("A", side_a), ("B", side_b)):
            announce(f"round {number}/{rounds}: {name} ({side.label})")
            async with side.serve() as target:
                result = await run(scenario, target, progress=progress)
            result["label"] = f"{name} round {number}"
            runs.append(result)
    return runs, comparison(runs, side_a.label, side_b.label)


# --- the command line: ``huddle bench ... --compare URL_B`` / ``--server-a CMD --server-b CMD`` ---


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "compare two servers (A B A B ...; the report gives B / A)",
        "A is --url or --server-a, B is --compare or --server-b. A server command is a Huddle checkout "
        "directory, or a command line with {port} (and optionally {data_dir}) filled in; without {port} "
        "it must serve at --url (A) or --compare (B). It is started for each run and stopped after it.",
    )
    group.add_argument("--compare", metavar="URL_B", default=None, help="the second server's URL")
    group.add_argument("--server-a", metavar="CMD", default=None, help="start server A for each run")
    group.add_argument("--server-b", metavar="CMD", default=None, help="start server B for each run")
    group.add_argument("--rounds", type=int, default=3, help="rounds of A then B (default 3)")


def selected(args: argparse.Namespace) -> bool:
    return any(getattr(args, name) for name in ("compare", "server_a", "server_b"))


def side_from_args(command: str | None, url: str | None, credentials: Target, option: str) -> Side:
    if command:
        return ServerCommand(command, command, credentials, url=url.rstrip("/") if url else None)
    if not url:
        raise SystemExit(f"huddle bench: --compare needs {option}")
    url = url.rstrip("/")
    # --metrics-url names where --url's server serves its metrics, not the other server's
    metrics_url = credentials.metrics_url if url == credentials.url else None
    return RunningServer(replace(credentials, url=url, metrics_url=metrics_url), url)


async def run_mode(
    args: argparse.Namespace,
    scenario: Scenario,
    target: Target,
    run: RunScenario,
    progress: Callable[..., Any],
) -> tuple[list[dict[str, Any]], dict[str, Any], None]:
    if getattr(args, "capacity", False):
        raise SystemExit("huddle bench: --capacity and --compare/--server-a/--server-b do not go together")
    side_a = side_from_args(args.server_a, args.url, target, "--url or --server-a")
    side_b = side_from_args(args.server_b, args.compare, target, "a URL (--compare URL_B) or --server-b")
    runs, result = await run_compare(scenario, side_a, side_b, run, rounds=args.rounds, progress=progress)
    return runs, result, None
