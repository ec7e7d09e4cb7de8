"""huddle bench reports, charts, --compare and the capacity search.

Unit tests on hand-built run objects check the report's shape, the redaction, the charts, the
ratios and the capacity stop logic; the tests marked "real" drive the bench engine against real
``huddle serve`` processes on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import matplotlib.image
import pytest

from benchmarks.bench import capacity, compare
from benchmarks.bench.report import build_report, redact_command, validate, write_report
from benchmarks.bench.runner import run_scenario
from benchmarks.bench.scenarios import Scenario, Target
from tests.conftest import ServerProcess, free_port

REPO = Path(__file__).resolve().parent.parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JWT_EXAMPLE = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


def percentiles(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "p50": None, "p95": None, "max": None}
    pick = lambda p: ordered[min(len(ordered) - 1, int(p * len(ordered)))]  # noqa: E731
    return {"count": len(ordered), "p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99), "max": ordered[-1]}


def hand_run(
    label: str = "run", cpu_us: float = 50.0, latency_ms: float = 20.0, **changes: Any
) -> dict[str, Any]:
    """A run object as the engine makes one: 3 participants, 6 tracks, 10 s."""
    latencies = [latency_ms * (0.5 + i / 100) for i in range(100)]
    timeline = [
        {
            "t": float(t),
            "bitrate_kbps": 2400.0 + 10 * t,
            "loss": 0.001 * (t % 3),
            "packets_received": 1000,
            "server_cpu": 1000 * cpu_us / 1e6,
            "server_packets_out_per_s": 1000.0 + t,
        }
        for t in range(1, 11)
    ]
    run = {
        "target": "http://127.0.0.1:9",
        "label": label,
        "load": {"participants": 3},
        "window_s": 10.0,
        "joins": {
            "attempted": 3,
            "succeeded": 3,
            "join_s": percentiles([0.2, 0.3, 0.4]),
            "first_packet_s": percentiles([0.5, 0.6]),
            "first_keyframe_s": percentiles([0.6, 0.7]),
        },
        "tracks_expected": 6,
        "tracks_received": 6,
        "tracks": [
            {
                "subscriber": "p1",
                "publisher": "p2",
                "kind": "video",
                "packets": 1000,
                "bytes": 900_000,
                "lost": 0,
                "loss": 0.0,
                "bitrate_kbps": 720.0,
                "jitter_ms": 1.5,
                "latency_ms": percentiles(latencies),
            }
        ],
        "totals": {
            "packets": 10_000,
            "bytes": 9_000_000,
            "lost": 2,
            "loss": 0.0002,
            "bitrate_kbps": 2450.0,
            "jitter_ms": percentiles([1.0, 2.0]),
            "latency_ms": percentiles(latencies),
        },
        "chat": {
            "sent": 10,
            "acked": 10,
            "expected_deliveries": 20,
            "delivered": 20,
            "lost": 0,
            "latency_ms": percentiles([4.0, 6.0]),
        },
        "errors": [{"code": "timeout", "message": "example", "count": 2}],
        "server": {
            "cpu_seconds": 0.5,
            "packets_in": 4000,
            "packets_out": 10_000,
            "rss_bytes": 80 * 2**20,
            "rooms": 1,
            "participants": 3,
            "cpu_us_per_forwarded_packet": cpu_us,
            "cpu_cores": 0.05,
        },
        "timeline": timeline,
        "clients": {"processes": 2, "cpu_cores": [0.1, 0.2]},
    }
    run.update(changes)
    return run


SCENARIO = Scenario(kind="meeting", participants=3, duration=10)


# --- the report: schema, redaction, files ------------------------------------------


def test_redact_command_hides_secrets_and_tokens() -> None:
    argv = [
        "huddle",
        "bench",
        "https://meet.example.org",
        "--api-key",
        "APIkey1",
        "--api-secret",
        "hunter2-secret",
        "--api-secret=other-secret",
        "--token",
        "plain-token",
        "--metrics-token=metrics-secret",
        "--token-command",
        f"echo {JWT_EXAMPLE}",
        JWT_EXAMPLE,
    ]
    redacted = redact_command(argv)
    text = " ".join(redacted)
    for secret in (
        "hunter2-secret",
        "other-secret",
        "plain-token",
        "metrics-secret",
        JWT_EXAMPLE,
        "c2lnbmF0dXJl",
    ):
        assert secret not in text
    assert redacted[:5] == argv[:5]  # the URL and the key id stay readable
    assert redacted[5:] == [
        "--api-secret",
        "***",
        "--api-secret=***",
        "--token",
        "***",
        "--metrics-token=***",
    ] + [
        "--token-command",
        "echo ***",
        "***",
    ]


def test_build_report_validates_and_redacts() -> None:
    report = build_report(SCENARIO, [hand_run()], ["huddle", "bench", "--api-secret", "s3"], started_at=1.0)
    assert report["command"] == ["huddle", "bench", "--api-secret", "***"]
    assert report["machine"]["cpus"] == os.cpu_count()
    assert report["scenario"]["participants"] == 3
    broken = hand_run()
    del broken["tracks_expected"]
    with pytest.raises(jsonschema.ValidationError):
        build_report(SCENARIO, [broken], ["huddle", "bench"])
    with pytest.raises(jsonschema.ValidationError):
        build_report(SCENARIO, [hand_run(window_s="ten")], ["huddle", "bench"])


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (450, 800), path


def test_write_report_files(tmp_path: Path) -> None:
    runs = [hand_run("A round 1", 50.0), hand_run("B round 1", 40.0)]
    runs[1]["totals"]["latency_histogram"] = {"edges_ms": [0, 10, 20, 40], "counts": [5, 80, 15]}
    report = build_report(
        SCENARIO, runs, ["huddle", "bench"], comparison=compare.comparison(runs, "http://a", "http://b")
    )
    paths = write_report(report, tmp_path / "out")
    assert set(paths) == {"json", "summary", "bitrate", "loss", "latency", "server_cpu"}
    for name in ("bitrate", "loss", "latency", "server_cpu"):
        assert_png(paths[name])
    assert json.loads(paths["json"].read_text()) == report
    summary = paths["summary"].read_text()
    assert (
        "| A round 1 | 3/3 | 0.30 / 0.40 / 0.40 | 0.70 / 0.70 / 0.70 | 6/6 | 0.020 (2) | 2,450 |" in summary
    )
    server_row = "| B round 1 | 20/20 | 0 | 6.0 / 6.0 | timeout x2 | 40.0 | 0.05 | 80 | 10,000 | 0.10 + 0.20 "
    assert server_row + "|" in summary
    assert "| server CPU per forwarded packet | 50.00 us | 40.00 us | 0.80 | **0.80** |" in summary
    assert "B/A server CPU per forwarded packet: 0.80 in a single round, too few to call" in summary


def test_write_report_refuses_an_invalid_report(tmp_path: Path) -> None:
    report = build_report(SCENARIO, [hand_run()], ["huddle", "bench"])
    report["runs"][0]["joins"]["attempted"] = "three"
    with pytest.raises(jsonschema.ValidationError):
        write_report(report, tmp_path)
    assert not (tmp_path / "report.json").exists()


# --- compare: ratios and verdict -----------------------------------------------------


def test_ratio_edge_cases() -> None:
    assert compare.ratio(2.0, 1.0) == 0.5
    assert compare.ratio(0.0, 0.0) == 1.0  # no loss on either side: equal
    assert compare.ratio(0.0, 0.01) is None  # infinitely worse has no finite ratio
    assert compare.ratio(None, 1.0) is None


def test_comparison_medians_and_verdicts() -> None:
    runs = []
    for a_cost, b_cost in ((50.0, 45.0), (60.0, 48.0), (52.0, 49.4)):
        runs += [hand_run(cpu_us=a_cost, latency_ms=20), hand_run(cpu_us=b_cost, latency_ms=30)]
    result = compare.comparison(runs, "a", "b")
    validate(result, "comparison")
    assert result["rounds"] == 3
    assert [r["ratios"]["cpu_us_per_forwarded_packet"] for r in result["per_round"]] == pytest.approx(
        [0.9, 0.8, 0.95]
    )
    assert result["ratios"]["cpu_us_per_forwarded_packet"] == pytest.approx(0.9)
    assert result["ratios"]["latency_p95_ms"] == pytest.approx(1.5)
    assert result["ratios"]["loss"] == 1.0
    assert "10 % less" in result["verdict"]
    mixed = [hand_run(cpu_us=50.0), hand_run(cpu_us=45.0), hand_run(cpu_us=50.0), hand_run(cpu_us=55.0)]
    assert compare.comparison(mixed, "a", "b")["verdict"].startswith("No clear difference")


# --- capacity: steps and the stop logic ----------------------------------------------


def test_step_rules() -> None:
    assert capacity.load_values(2, capacity.StepRule.parse("1"), 4, whole=True) == [2, 3, 4]
    assert capacity.load_values(2, capacity.StepRule.parse("x2"), 20, whole=True) == [2, 4, 8, 16]
    assert capacity.load_values(2, capacity.StepRule.parse("x1.2"), 5, whole=True) == [2, 3, 4, 5]
    assert capacity.load_values(1.0, capacity.StepRule.parse("*1.5"), 3, whole=False) == [1.0, 1.5, 2.25]
    for bad in ("0", "x1", "-2"):
        with pytest.raises(ValueError):
            capacity.StepRule.parse(bad)
    assert capacity.parameter_for(Scenario(kind="rooms")) == "rooms"
    assert capacity.parameter_for(Scenario(kind="broadcast")) == "participants"
    assert capacity.parameter_for(Scenario(kind="chat")) == "chat_rate"


def test_judge_names_each_bound() -> None:
    bounds = capacity.Bounds(max_loss=0.01, max_p95_latency_ms=100)
    assert capacity.judge(hand_run(), bounds) is None
    failed_join = hand_run(joins={**hand_run()["joins"], "succeeded": 2})
    assert capacity.judge(failed_join, bounds) == "joins failed: 2 of 3 succeeded"
    assert capacity.judge(hand_run(tracks_received=5), bounds) == "tracks received 5 < expected 6"
    lossy = hand_run()
    lossy["totals"]["loss"] = 0.02
    assert capacity.judge(lossy, bounds) == "loss 2.00 % > 1 %"
    slow = hand_run(latency_ms=120)  # p95 = 120 * 1.45
    assert capacity.judge(slow, bounds) == "p95 latency 174.0 ms > 100 ms"
    chat_lost = hand_run()
    chat_lost["chat"].update(delivered=15, lost=5)
    assert capacity.judge(chat_lost, bounds) == "chat lost 5 of 20 deliveries"


def test_capacity_object_held_and_stop() -> None:
    bounds = capacity.Bounds()
    held_two = [
        {"value": 2, "held": True, "run": 0},
        {"value": 3, "held": True, "run": 1},
        {"value": 4, "held": False, "run": 2, "reason": "loss 3.00 % > 1 %"},
    ]
    result = capacity.capacity_object("participants", bounds, held_two)
    validate(result, "capacity")
    assert result["held"] == 3
    assert result["stop_reason"] == "at 4: loss 3.00 % > 1 %"
    first_fails = capacity.capacity_object("rooms", bounds, [{"value": 2, "held": False, "reason": "x"}])
    assert first_fails["held"] is None
    all_held = capacity.capacity_object("participants", bounds, held_two[:2])
    assert all_held["held"] == 3 and all_held["stop_reason"] == capacity.REACHED_MAXIMUM


async def test_search_stops_at_the_first_step_over_a_bound() -> None:
    """The search loop on hand-built runs whose p95 latency grows with the load: 2 and 3 hold, 4 does not."""
    loads: list[int] = []

    async def run_at(scenario: Scenario, target: Target, progress: Any = None) -> dict[str, Any]:
        loads.append(scenario.participants)
        return hand_run(latency_ms=40.0 * scenario.participants, load={"participants": scenario.participants})

    runs, result = await capacity.search(
        SCENARIO,
        Target("http://127.0.0.1:9"),
        run_at,
        start=2,
        rule=capacity.StepRule.parse("+1"),
        maximum=10,
        bounds=capacity.Bounds(max_p95_latency_ms=200),
        announce=lambda line: None,
    )
    assert loads == [2, 3, 4]  # nothing run past the first failure
    assert [s["held"] for s in result["steps"]] == [True, True, False]
    assert result["held"] == 3
    assert result["stop_reason"] == "at 4: p95 latency 232.0 ms > 200 ms"
    assert [r["label"] for r in runs] == ["participants=2", "participants=3", "participants=4"]
    build_report(SCENARIO, runs, ["huddle", "bench", "--capacity"], capacity=result)


# --- servers started from a command or a checkout --------------------------------------


def group_gone(pgid: int) -> bool:
    """No process is left in the process group the server command was started as."""
    return not compare.group_alive(pgid)


@pytest.mark.parametrize(
    "command",
    [
        str(REPO),
        # a shell that starts the server as its child: stopping must reach the whole process group
        f"sh -c '{sys.executable} -m signalling.cli serve --host 127.0.0.1 --port {{port}}"
        " --data-dir {data_dir} --log-level WARNING & wait'",
    ],
    ids=["checkout", "shell-command"],
)
async def test_server_command_starts_serves_and_stops(command: str) -> None:
    side = compare.ServerCommand(command, "B", Target("unused"), startup_timeout=30)
    async with side.serve() as target, aiohttp.ClientSession() as http:
        assert target.url.startswith("http://127.0.0.1:") and target.label == "B"
        async with http.get(target.url + "/metrics", timeout=aiohttp.ClientTimeout(total=10)) as response:
            assert "huddle_rtp_packets_out_total" in await response.text()
        assert side.pid is not None and not group_gone(side.pid)
    assert group_gone(side.pid)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(target.url + "/healthz", timeout=aiohttp.ClientTimeout(total=5))


async def test_server_command_that_fails_reports_its_log() -> None:
    command = f"{sys.executable} -c \"import sys; print('no such server {{port}}'); sys.exit(3)\""
    side = compare.ServerCommand(command, "B", Target("unused"), startup_timeout=20)
    with pytest.raises(RuntimeError, match="exited with 3"):
        async with side.serve():
            pass
    with pytest.raises(ValueError, match="no {port}"):
        compare.ServerCommand("serve-something", "B", Target("unused")).argv(free_port(), Path("/tmp"))


# --- real runs against huddle serve on 127.0.0.1 ---------------------------------------

TINY = Scenario(kind="meeting", name="tiny", participants=2, duration=2, ramp=10, processes=1, chat_rate=2)
RUN_TIMEOUT = 60.0
BROAD = (0.2, 5.0)  # identical builds: a ratio outside this band means the comparison is broken


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[list[ServerProcess]]:
    started = [ServerProcess(tmp_path / f"data{i}") for i in range(2)]
    try:
        for server in started:
            await server.start()
        yield started
    finally:
        for server in started:
            await server.stop()


async def run_bounded(scenario: Scenario, target: Target, progress: Any = None) -> dict[str, Any]:
    return await asyncio.wait_for(run_scenario(scenario, target, progress), RUN_TIMEOUT)


async def test_real_run_report(servers: list[ServerProcess], tmp_path: Path) -> None:
    scenario = Scenario(
        kind="meeting", name="two", participants=2, duration=3, ramp=10, processes=1, chat_rate=2
    )
    run = await run_bounded(scenario, Target(servers[0].url))
    command = ["huddle", "bench", servers[0].url, "--api-secret", "s3cr3t", "--token", JWT_EXAMPLE]
    report = build_report(scenario, [run], command)
    paths = write_report(report, tmp_path / "out")
    on_disk = json.loads(paths["json"].read_text())
    validate(on_disk)
    assert "s3cr3t" not in paths["json"].read_text() and JWT_EXAMPLE not in paths["json"].read_text()
    assert on_disk["runs"][0]["tracks_received"] == on_disk["runs"][0]["tracks_expected"] == 4
    for name in ("bitrate", "loss", "latency", "server_cpu"):
        assert_png(paths[name])
    summary = paths["summary"].read_text()
    row = next(line for line in summary.splitlines() if line.startswith(f"| {run['label']} | 2/2 |"))
    assert "| 4/4 |" in row
    server = run["server"]
    chat_row = f"| {run['label']} | {run['chat']['delivered']}/{run['chat']['expected_deliveries']} |"
    assert chat_row in summary and f"{server['cpu_us_per_forwarded_packet']:,.1f}" in summary


async def test_compare_two_local_servers(servers: list[ServerProcess], tmp_path: Path) -> None:
    side_a = compare.RunningServer(Target(servers[0].url), servers[0].url)
    side_b = compare.RunningServer(Target(servers[1].url), servers[1].url)
    lines: list[str] = []
    runs, result = await compare.run_compare(
        TINY, side_a, side_b, run_bounded, rounds=2, announce=lines.append
    )
    assert lines == [
        f"round {n}/2: {x} ({s.label})" for n in (1, 2) for x, s in (("A", side_a), ("B", side_b))
    ]
    assert [r["label"] for r in runs] == ["A round 1", "B round 1", "A round 2", "B round 2"]
    assert [r["target"] for r in runs] == [servers[0].url, servers[1].url] * 2
    assert result["rounds"] == 2 and len(result["per_round"]) == 2
    for key in ("cpu_us_per_forwarded_packet", "cpu_cores"):
        value = result["ratios"][key]
        assert value is not None and BROAD[0] < value < BROAD[1], (key, result["per_round"])
    for key in ("latency_p95_ms", "join_p95_s"):  # a few ms on loopback: a busy neighbour moves them most
        value = result["ratios"][key]
        assert value is not None and math.isfinite(value) and value > 0, (key, result["per_round"])
    assert result["ratios"]["loss"] == pytest.approx(1.0, abs=0.5) or result["ratios"]["loss"] is None
    report = build_report(TINY, runs, ["huddle", "bench", "--compare", servers[1].url], comparison=result)
    summary = write_report(report, tmp_path)["summary"].read_text()
    assert "## Comparison: B / A over 2 rounds" in summary and result["verdict"] in summary


async def test_real_capacity_search(servers: list[ServerProcess]) -> None:
    target = Target(servers[0].url)
    step = capacity.StepRule.parse("+1")
    quiet = {"announce": lambda line: None}
    runs, held = await capacity.search(
        TINY, target, run_bounded, 2, step, 3, capacity.Bounds(max_loss=0.5, max_p95_latency_ms=5000), **quiet
    )
    assert [s["held"] for s in held["steps"]] == [True, True], held
    assert held["held"] == 3 and held["stop_reason"] == capacity.REACHED_MAXIMUM
    assert [r["tracks_expected"] for r in runs] == [4, 12]  # each of n receives audio and video from n - 1
    runs, strict = await capacity.search(
        TINY, target, run_bounded, 2, step, 4, capacity.Bounds(max_p95_latency_ms=0.0), **quiet
    )
    assert len(runs) == 1 and strict["held"] is None
    assert strict["steps"][0]["reason"].startswith("p95 latency ")
    build_report(TINY, runs, ["huddle", "bench", "--capacity"], capacity=strict)


async def test_cli_compare_with_a_server_from_a_checkout(
    servers: list[ServerProcess], tmp_path: Path
) -> None:
    """``huddle bench --compare`` end to end: A is a running server, B is started from this checkout."""
    out = tmp_path / "out"
    argv = ["meeting", "--participants", "2", "--duration", "2", "--processes", "1", "--url", servers[0].url]
    argv += ["--server-b", str(REPO), "--rounds", "1", "--out", str(out)]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.bench.cli", *argv, cwd=REPO, stdout=asyncio.subprocess.PIPE
    )
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), 2 * RUN_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stdout
    report = json.loads((out / "report.json").read_text())
    validate(report)
    assert [r["label"] for r in report["runs"]] == ["A round 1", "B round 1"]
    assert report["runs"][0]["target"] == servers[0].url
    assert (
        report["runs"][1]["target"].startswith("http://127.0.0.1:")
        and report["runs"][1]["target"] != servers[0].url
    )
    assert report["comparison"]["a"] == servers[0].url and report["comparison"]["b"] == str(REPO)
    assert all(r["tracks_received"] == r["tracks_expected"] == 4 for r in report["runs"])
    assert "single round" in report["comparison"]["verdict"]
