"""``huddle bench``'s engine against a real ``huddle serve`` on 127.0.0.1.

Short runs (a few participants for a few seconds): what the tool counts must
match what was sent and what the server says it forwarded; figures themselves
are not asserted (performance goals are reported, not tested).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench import cli
from benchmarks.bench.plan import plan_participants
from benchmarks.bench.report import validate
from benchmarks.bench.runner import run_scenario
from benchmarks.bench.scenarios import Scenario, Target, VideoSpec
from signalling.tokens import Grants, mint_token
from tests.conftest import ServerProcess, free_port

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parent.parent
API_KEY = "benchkey"
API_SECRET = "bench-secret-0123456789abcdef0123456789"
SMALL_VIDEO = VideoSpec(width=320, height=180, fps=30, bitrate=300_000)
HELD_MS = 250.0


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clip cache for every test: the clips are encoded once."""
    return tmp_path_factory.mktemp("bench-clips")


@pytest.fixture
async def keyed_server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """A server that admits only tokens signed with API_KEY."""
    env = {**os.environ, "HUDDLE_API_KEYS": f"{API_KEY}:{API_SECRET}"}
    server = ServerProcess(tmp_path / "keyed-data", env=env)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def scenario(kind: str, **fields: Any) -> Scenario:
    base: dict[str, Any] = {"duration": 4, "ramp": 10, "processes": 2, "video": SMALL_VIDEO}
    return Scenario(kind=kind, **{**base, **fields})


async def test_meeting_counts_every_packet_and_chat_message_and_agrees_with_the_server(
    server_process: ServerProcess, clips: Path
) -> None:
    run = await run_scenario(
        scenario("meeting", participants=3, duration=5, chat_rate=6),
        Target(url=server_process.url),
        cache_dir=clips,
    )
    validate(run, "run")
    assert run["errors"] == []
    # 3 participants, each receiving the other two's video and audio
    assert run["tracks_expected"] == 12
    assert run["tracks_received"] == 12
    assert {(t["subscriber"], t["publisher"], t["kind"]) for t in run["tracks"]} == {
        (s, p, k)
        for s in ("p0000", "p0001", "p0002")
        for p in ("p0000", "p0001", "p0002")
        if s != p
        for k in ("audio", "video")
    }
    totals = run["totals"]
    assert totals["lost"] == 0 and totals["loss"] == 0
    assert all(
        t["packets"] > 0 and t["lost"] == 0 and t["latency_ms"]["count"] == t["packets"]
        for t in run["tracks"]
    )
    assert all(t["first_keyframe_s"] is not None for t in run["tracks"] if t["kind"] == "video")
    chat = run["chat"]
    assert chat["sent"] > 0 and chat["acked"] == chat["sent"]
    assert chat["expected_deliveries"] == 2 * chat["sent"]
    assert chat["delivered"] == chat["expected_deliveries"] and chat["lost"] == 0
    server = run["server"]
    assert server is not None and server["packets_out"] > 0
    # The server counts first transmissions when written, the tool media packets (RTX aside)
    # when read: the same packets over windows of the same length, a few ms apart.
    assert abs(totals["packets"] - server["packets_out"]) <= 0.01 * server["packets_out"]
    assert server["cpu_us_per_forwarded_packet"] is not None
    assert len(run["timeline"]) == 5
    assert sum(p["packets_received"] for p in run["timeline"]) == pytest.approx(totals["packets"], rel=0.02)


async def test_latency_grows_by_a_known_hold_and_audio_only_rooms_carry_audio_tracks(
    server_process: ServerProcess, clips: Path
) -> None:
    target = Target(url=server_process.url)
    audio = scenario("audio", participants=3, duration=3)
    plain = await run_scenario(audio, target, cache_dir=clips)
    held = await run_scenario(audio, target, cache_dir=clips, delay=HELD_MS / 1000)
    for run in (plain, held):
        validate(run, "run")
        assert run["tracks_expected"] == run["tracks_received"] == 6
        assert {t["kind"] for t in run["tracks"]} == {"audio"}
        assert run["totals"]["lost"] == 0
    added = held["totals"]["latency_ms"]["p50"] - plain["totals"]["latency_ms"]["p50"]
    assert added == pytest.approx(HELD_MS, abs=60)


def server_admin_token() -> str:
    admin = Grants(join=False, publish=frozenset(), subscribe=False, data=False, admin=True)
    return mint_token(API_KEY, API_SECRET, "bench-metrics", None, grants=admin)


async def test_token_command_admits_broadcast_subscribers_to_a_server_with_keys(
    keyed_server: ServerProcess, clips: Path, tmp_path: Path
) -> None:
    calls = tmp_path / "token-calls"
    script = tmp_path / "mint_bench_token.py"
    script.write_text(
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\n"
        "from signalling.tokens import mint_token\n"
        "room, identity, name = sys.argv[1:4]\n"
        f"open({str(calls)!r}, 'a').write(identity + '\\n')\n"
        f"print(mint_token({API_KEY!r}, {API_SECRET!r}, identity, room, name=name))\n"
    )
    command = f"{sys.executable} {script} {{room}} {{identity}} {{name}}"
    run = await run_scenario(
        scenario("broadcast", participants=3, publishers=1, duration=3),
        # /metrics of a server with keys wants a server admin token: given here, as a
        # developer without the API secret would pass --metrics-token.
        Target(url=keyed_server.url, token_command=command, metrics_token=server_admin_token()),
        cache_dir=clips,
    )
    validate(run, "run")
    assert run["errors"] == []
    assert run["server"]["packets_out"] > 0
    assert run["joins"]["succeeded"] == 4
    assert sorted(calls.read_text().split()) == ["pub000", "sub0000", "sub0001", "sub0002"]
    # 3 subscribers x (video + audio) of the one publisher; the publisher receives nothing
    assert run["tracks_expected"] == run["tracks_received"] == 6
    assert {t["publisher"] for t in run["tracks"]} == {"pub000"}
    assert run["totals"]["lost"] == 0


async def test_cli_mints_tokens_with_an_api_key_and_reports_without_the_secret_or_unreachable_metrics(
    keyed_server: ServerProcess, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    argv = ["meeting", "--url", keyed_server.url, "--participants", "2", "--duration", "2"]
    argv += ["--video", "320x180", "--bitrate", "300000", "--chat-rate", "4", "--processes", "1"]
    argv += ["--api-key", API_KEY, "--api-secret", API_SECRET, "--out", str(out)]
    argv += [
        "--cache-dir",
        str(tmp_path / "cli-clips"),
        "--metrics-url",
        f"http://127.0.0.1:{free_port()}/metrics",
    ]
    assert await asyncio.wait_for(asyncio.to_thread(cli.main, argv), 90) == 0
    report = json.loads((out / "report.json").read_text())
    validate(report)
    (run,) = report["runs"]
    assert run["tracks_expected"] == run["tracks_received"] == 4
    assert run["chat"]["delivered"] == run["chat"]["expected_deliveries"] > 0
    assert "***" in report["command"]
    assert sorted(p.name for p in (tmp_path / "cli-clips").iterdir()) == [
        "opus-tone-10s.pickle",
        "vp8-320x180-30fps-300000bps-10s.pickle",
    ]
    # /metrics pointed at a closed port: no server figures, and the report says why
    assert run["server"] is None
    assert [e["code"] for e in run["errors"]] == ["metrics_unreachable"]
    for path in out.iterdir():
        assert API_SECRET.encode() not in path.read_bytes()
    charts = [p for p in out.iterdir() if p.suffix == ".png"]
    assert charts and all(p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for p in charts)


def test_a_scenario_file_is_a_suite_and_command_line_options_override_it(tmp_path: Path) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text(
        '[[scenario]]\nname = "standup"\nkind = "meeting"\nparticipants = 6\n'
        'video = {codec = "H264", width = 320, height = 180, fps = 15, bitrate = 250000}\n\n'
        '[[scenario]]\nname = "town hall"\nkind = "broadcast"\nparticipants = 40\nvideo = false\n'
    )
    args = cli.build_parser().parse_args(
        ["--url", "http://127.0.0.1:1", "--scenario-file", str(suite), "--seed", "9"]
    )
    standup, town_hall = cli.scenarios_from_args(args)
    assert (standup.name, standup.kind, standup.participants, standup.seed) == ("standup", "meeting", 6, 9)
    assert standup.video == VideoSpec(codec="H264", width=320, height=180, fps=15, bitrate=250_000)
    assert (town_hall.kind, town_hall.participants, town_hall.video, town_hall.seed) == (
        "broadcast",
        40,
        None,
        9,
    )


def test_the_seed_fixes_names_rooms_and_join_order() -> None:
    rooms = scenario("rooms", rooms=3, participants=4, seed=5)
    first, again = plan_participants(rooms, "x"), plan_participants(rooms, "x")
    other = plan_participants(replace(rooms, seed=6), "x")
    assert [p.to_json() for p in first] == [p.to_json() for p in again]
    assert [p.name for p in first] != [p.name for p in other]
    assert sorted(p.name for p in first) == sorted(p.name for p in other)
    assert {p.room for p in first} == {"x-0", "x-1", "x-2"}
    assert all(p.expected_tracks == 3 * 2 for p in first)
