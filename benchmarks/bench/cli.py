"""``huddle bench``: the command line.

    huddle bench meeting --url http://127.0.0.1:8080 --participants 4 --duration 10
    huddle bench --scenario-file suite.toml --url https://huddle.example.com --api-key K --api-secret S

Every invocation runs one or more scenarios; each produces one report folder
(report.json, summary.md, charts). How a scenario is run is a *mode*: the plain
mode measures it once on ``--url``. Further modes (``--compare``, ``--capacity``)
register in ``MODES`` with their options and a function returning the runs plus
the report's ``comparison`` / ``capacity`` object.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, get_args

from . import capacity, compare
from .compare import RunScenario
from .report import build_report, write_report
from .runner import Progress, run_scenario
from .scenarios import Scenario, ScenarioKind, Target, VideoSpec
from .tokens import keys_from_env

KINDS = get_args(ScenarioKind)
DEFAULT_CHAT_RATE = 10.0  # the chat scenario's messages/s when none is given

ModeResult = tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, Any] | None]


@dataclass(frozen=True)
class Mode:
    """A way to run a scenario: its options, whether the arguments select it, and how it runs."""

    name: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    selected: Callable[[argparse.Namespace], bool]
    run: Callable[[argparse.Namespace, Scenario, Target, RunScenario, Progress], Awaitable[ModeResult]]


def scenario_runner(args: argparse.Namespace) -> RunScenario:
    """``run_scenario(scenario, target, progress=...)`` with this command's --cache-dir and debug options."""

    async def run(scenario: Scenario, target: Target, progress: Progress | None = None) -> dict[str, Any]:
        return await run_scenario(
            scenario, target, progress, cache_dir=args.cache_dir, delay=args.debug_hold_ms / 1000
        )

    return run


async def _run_once(
    args: argparse.Namespace, scenario: Scenario, target: Target, run: RunScenario, progress: Progress
) -> ModeResult:
    return [await run(scenario, target, progress=progress)], None, None


PLAIN = Mode("plain", lambda parser: None, lambda args: True, _run_once)
COMPARE = Mode("compare", compare.add_arguments, compare.selected, compare.run_mode)
CAPACITY = Mode("capacity", capacity.add_arguments, capacity.selected, capacity.run_mode)
# Checked in order; the first selected mode runs, the plain one last.
MODES: list[Mode] = [COMPARE, CAPACITY, PLAIN]


def _video_size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: want WIDTHxHEIGHT, e.g. 640x360")
    return int(width), int(height)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="huddle bench", description="Load-test a Huddle server")
    parser.add_argument("kind", nargs="?", choices=KINDS, help="the scenario (or use --scenario-file)")
    parser.add_argument("--url", help="the Huddle server, e.g. http://127.0.0.1:8080 (unless --server-a)")
    parser.add_argument("--label", default="", help="the server's name in reports")
    parser.add_argument("--metrics-url", default=None, help="its Prometheus metrics (default: URL/metrics)")
    parser.add_argument(
        "--metrics-token",
        default=os.environ.get("HUDDLE_METRICS_TOKEN"),
        help="a server admin token for /metrics (default: $HUDDLE_METRICS_TOKEN, or minted with the API key)",
    )
    load = parser.add_argument_group("load")
    load.add_argument("--participants", type=int, help="per room; broadcast: subscribers")
    load.add_argument("--publishers", type=int, help="broadcast: publishers (default 1)")
    load.add_argument("--rooms", type=int, help="rooms: how many rooms")
    load.add_argument("--duration", type=float, help="measured seconds, after every join")
    load.add_argument("--ramp", type=float, help="joins per second")
    load.add_argument("--seed", type=int)
    load.add_argument("--processes", type=int, help="worker processes for the participants")
    load.add_argument("--chat-rate", type=float, help="chat messages per second, all senders together")
    media = parser.add_argument_group("media")
    media.add_argument("--video", type=_video_size, metavar="WIDTHxHEIGHT")
    media.add_argument("--fps", type=int)
    media.add_argument("--bitrate", type=int, help="video bit/s the clip is encoded at")
    media.add_argument("--codec", choices=("VP8", "H264"))
    media.add_argument("--no-video", action="store_true")
    media.add_argument("--no-audio", action="store_true")
    media.add_argument(
        "--cache-dir", type=Path, default=None, help="encoded clips (default ~/.cache/huddle-bench)"
    )
    media.add_argument(
        "--debug-hold-ms", type=float, default=0.0, help="hold each stamped packet this long (checks latency)"
    )
    access = parser.add_argument_group("access tokens (default: a development server's /api/dev/token)")
    access.add_argument("--api-key", default=None)
    access.add_argument("--api-secret", default=None, help="with --api-key; or set $HUDDLE_API_KEYS")
    access.add_argument(
        "--token-command", default=None, help="shell command printing a token; {room} {identity} {name}"
    )
    parser.add_argument(
        "--scenario-file", type=Path, help="TOML with [[scenario]] tables: a repeatable suite"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="report folder")
    for mode in MODES:
        mode.add_arguments(parser)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    names = ("participants", "publishers", "rooms", "duration", "ramp", "seed", "processes", "chat_rate")
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _with_media(scenario: Scenario, args: argparse.Namespace) -> Scenario:
    video = scenario.video
    if video is not None:
        width, height = args.video or (video.width, video.height)
        video = replace(
            video,
            width=width,
            height=height,
            fps=args.fps or video.fps,
            bitrate=args.bitrate or video.bitrate,
            codec=args.codec or video.codec,
        )
    if args.no_video or scenario.kind in ("audio", "chat"):
        video = None
    return replace(scenario, video=video, audio=scenario.audio and not args.no_audio)


def _kind_defaults(scenario: Scenario) -> Scenario:
    if scenario.kind == "chat" and scenario.chat_rate <= 0:
        return replace(scenario, chat_rate=DEFAULT_CHAT_RATE)
    return scenario


def scenario_from_table(table: dict[str, Any]) -> Scenario:
    """One ``[[scenario]]`` table: Scenario's fields; ``video`` a table of VideoSpec's fields or false."""
    known = {f.name for f in fields(Scenario)}
    unknown = set(table) - known
    if unknown:
        raise SystemExit(f"huddle bench: unknown scenario fields {sorted(unknown)}")
    data = dict(table)
    if "video" in data:
        data["video"] = VideoSpec(**data["video"]) if data["video"] else None
    scenario = Scenario(**data)
    if scenario.kind not in KINDS:
        raise SystemExit(f"huddle bench: unknown scenario kind {scenario.kind!r}")
    return scenario


def scenarios_from_args(args: argparse.Namespace) -> list[Scenario]:
    if args.scenario_file is not None:
        with args.scenario_file.open("rb") as f:
            tables = tomllib.load(f).get("scenario", [])
        if not tables:
            raise SystemExit(f"huddle bench: {args.scenario_file} has no [[scenario]] tables")
        base = [scenario_from_table(t) for t in tables]
    elif args.kind is not None:
        base = [Scenario(kind=args.kind)]
    else:
        raise SystemExit("huddle bench: give a scenario kind or --scenario-file")
    return [_kind_defaults(_with_media(replace(s, **_overrides(args)), args)) for s in base]


def target_from_args(args: argparse.Namespace) -> Target:
    if not args.url and not getattr(args, "server_a", None):
        raise SystemExit("huddle bench: --url is required (or --server-a with --server-b)")
    key, secret = args.api_key, args.api_secret
    if bool(key) != bool(secret):
        raise SystemExit("huddle bench: --api-key and --api-secret go together")
    if not key and not args.token_command:
        key, secret = keys_from_env() or (None, None)
    return Target(
        url=(args.url or "").rstrip("/"),
        label=args.label,
        api_key=key,
        api_secret=secret,
        token_command=args.token_command,
        metrics_url=args.metrics_url,
        metrics_token=args.metrics_token,
    )


class ProgressLine:
    """One line rewritten in place on a terminal; plain lines otherwise."""

    def __init__(self, stream: Any = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._width = 0

    def __call__(self, update: dict[str, Any]) -> None:
        text = f"[{update['elapsed']:6.1f}s] {update['phase']:<9} joined {update['joined']}/{update['total']}"
        if "window" in update:
            text += f"  window {update['window']:5.1f}s  {update['packets_per_s']} pkt/s"
            text += f"  loss {update['loss'] * 100:.2f} %"
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
            if update["phase"] == "done":
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _out_dir(base: Path, scenario: Scenario, index: int, count: int) -> Path:
    return base if count == 1 else base / f"{index + 1:02d}-{scenario.name or scenario.kind}"


async def run_all(args: argparse.Namespace, command: list[str]) -> list[Path]:
    target = target_from_args(args)
    scenarios = scenarios_from_args(args)
    mode = next(m for m in MODES if m.selected(args))
    run = scenario_runner(args)
    progress = ProgressLine()
    written = []
    for index, scenario in enumerate(scenarios):
        started = time.time()
        runs, comparison, capacity = await mode.run(args, scenario, target, run, progress)
        report = build_report(scenario, runs, command, comparison, capacity, started_at=started)
        paths = write_report(report, _out_dir(args.out, scenario, index, len(scenarios)))
        print(f"{scenario.name or scenario.kind}: {paths['summary']}", flush=True)
        written.append(paths["json"])
    return written


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    asyncio.run(run_all(args, ["huddle", "bench", *argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
