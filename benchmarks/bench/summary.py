"""The Markdown summary of a report: what a developer pastes into a pull request."""

from __future__ import annotations

import time
from typing import Any

from .compare import MEASURES, Measure


def fmt(value: float | None, digits: int = 1, scale: float = 1.0) -> str:
    """A number with thousands separators, or "-" when it was not measured."""
    return "-" if value is None else f"{value * scale:,.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def run_name(run: dict[str, Any]) -> str:
    return run.get("label") or run["target"]


def percentiles_text(
    p: dict[str, Any], keys: tuple[str, ...] = ("p50", "p95", "max"), digits: int = 1
) -> str:
    return " / ".join(fmt(p.get(key), digits) for key in keys)


def scenario_line(scenario: dict[str, Any]) -> str:
    kind = scenario["kind"]
    people = scenario.get("participants")
    load = {
        "meeting": f"{people} participants in one room, all publishing and subscribing",
        "broadcast": f"{scenario.get('publishers', 1)} publisher(s) to {people} subscribers",
        "rooms": f"{scenario.get('rooms')} rooms of {people}",
        "audio": f"{people} participants in one room, audio only",
        "chat": f"{people} participants chatting at {scenario.get('chat_rate', 0):g} messages/s, no media",
    }[kind]
    video = scenario.get("video")
    media = []
    if video and kind != "audio":
        media.append(
            f"{video['codec']} {video['width']}x{video['height']} {video['fps']} fps "
            f"{video['bitrate'] / 1000:,.0f} kbit/s"
        )
    if scenario.get("audio", True):
        media.append("Opus")
    chat = (
        f", chat {scenario['chat_rate']:g} messages/s" if scenario.get("chat_rate") and kind != "chat" else ""
    )
    return (
        f"**{scenario['name']}** ({kind}): {load}; {' + '.join(media) or 'no media'}{chat}; "
        f"joins at {scenario.get('ramp', 0):g}/s, {scenario['duration']:g} s measured after the joins, "
        f"seed {scenario['seed']}, {scenario.get('processes', 1)} client process(es)."
    )


def errors_text(run: dict[str, Any]) -> str:
    return ", ".join(f"{e['code']} x{e['count']}" for e in run["errors"]) or "none"


def client_cores_text(run: dict[str, Any]) -> str:
    """The tool's own worker processes: one near 1.0 is saturated, and then so are the figures."""
    cores = (run.get("clients") or {}).get("cpu_cores") or []
    return " + ".join(f"{c:.2f}" for c in cores) or "-"


def media_rows(runs: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for run in runs:
        joins, totals = run["joins"], run["totals"]
        rows.append(
            [
                run_name(run),
                f"{joins['succeeded']}/{joins['attempted']}",
                percentiles_text(joins["join_s"], ("p50", "p95", "max"), 2),
                percentiles_text(joins.get("first_keyframe_s") or {}, ("p50", "p95", "max"), 2),
                f"{run['tracks_received']}/{run['tracks_expected']}",
                f"{fmt(totals['loss'], 3, 100)} ({totals['lost']:,})",
                fmt(totals.get("bitrate_kbps"), 0),
                percentiles_text(totals.get("jitter_ms") or {}, ("p50", "p95"), 1),
                percentiles_text(totals["latency_ms"]),
            ]
        )
    return rows


def server_rows(runs: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for run in runs:
        chat, server = run["chat"], run["server"] or {}
        rows.append(
            [
                run_name(run),
                f"{chat['delivered']:,}/{chat['expected_deliveries']:,}",
                f"{chat['lost']:,}",
                percentiles_text(chat["latency_ms"], ("p50", "p95"), 1),
                errors_text(run),
                fmt(server.get("cpu_us_per_forwarded_packet"), 1),
                fmt(server.get("cpu_cores"), 2),
                fmt(server.get("rss_bytes"), 0, 1 / 2**20),
                f"{server['packets_out']:,}" if "packets_out" in server else "-",
                client_cores_text(run),
            ]
        )
    return rows


def runs_section(runs: list[dict[str, Any]]) -> list[str]:
    windows = sorted({f"{run['window_s']:.1f} s" for run in runs})
    lines = ["## Runs", "", f"Measured window: {', '.join(windows)} per run.", ""]
    lines += table(
        [
            "run",
            "joins",
            "join s p50/p95/max",
            "first keyframe s p50/p95/max",
            "tracks received/expected",
            "loss % (packets)",
            "bitrate kbit/s",
            "jitter ms p50/p95",
            "latency ms p50/p95/max",
        ],
        media_rows(runs),
    )
    lines += [""]
    lines += table(
        [
            "run",
            "chat delivered/expected",
            "chat lost",
            "chat latency ms p50/p95",
            "errors",
            "server CPU us/forwarded packet",
            "server CPU cores",
            "server RSS MiB",
            "packets forwarded",
            "client CPU cores per process",
        ],
        server_rows(runs),
    )
    return lines


def measure_text(measure: Measure, value: float | None) -> str:
    return (
        "-"
        if value is None
        else f"{fmt(value, 3 if measure.unit == 's' else 2, measure.scale)} {measure.unit}"
    )


def comparison_section(report: dict[str, Any]) -> list[str]:
    comparison, runs = report["comparison"], report["runs"]
    per_round = comparison.get("per_round", [])
    lines = [
        f"## Comparison: B / A over {comparison['rounds']} round{'s' if comparison['rounds'] != 1 else ''}",
        "",
        f"A = {comparison['a']}, B = {comparison['b']}; each round runs A then B.",
        "",
    ]
    rows = []
    for measure in MEASURES:
        cells = [measure.label]
        for side in ("a_run", "b_run"):
            values = [measure.value(runs[r[side]]) for r in per_round if side in r]
            cells.append(", ".join(measure_text(measure, v) for v in values) or "-")
        cells.append(", ".join(fmt(r["ratios"].get(measure.key), 2) for r in per_round) or "-")
        cells.append(f"**{fmt(comparison['ratios'].get(measure.key), 2)}**")
        rows.append(cells)
    lines += table(
        ["measure (lower is better)", "A per round", "B per round", "B/A per round", "B/A median"], rows
    )
    if comparison.get("verdict"):
        lines += ["", comparison["verdict"]]
    return lines


def capacity_section(report: dict[str, Any]) -> list[str]:
    capacity, runs = report["capacity"], report["runs"]
    bounds = capacity["bounds"]
    parameter = capacity["parameter"]
    lines = [
        f"## Capacity search: {parameter}",
        "",
        f"A step holds when every join succeeds, every expected track arrives, loss stays at or under "
        f"{bounds.get('max_loss', 0) * 100:g} % and p95 latency at or under "
        f"{bounds.get('max_p95_latency_ms', 0):g} ms.",
        "",
    ]
    rows = []
    for step in capacity["steps"]:
        run = runs[step["run"]] if "run" in step else None
        totals = run["totals"] if run else None
        rows.append(
            [
                f"{step['value']:g}",
                "yes" if step["held"] else "**no**",
                f"{run['tracks_received']}/{run['tracks_expected']}" if run else "-",
                fmt(totals["loss"], 3, 100) if totals else "-",
                fmt(totals["latency_ms"]["p95"], 1) if totals else "-",
                fmt((run["server"] or {}).get("cpu_cores"), 2) if run else "-",
                step.get("reason", ""),
            ]
        )
    lines += table(
        [
            parameter,
            "held",
            "tracks received/expected",
            "loss %",
            "latency p95 ms",
            "server CPU cores",
            "reason",
        ],
        rows,
    )
    held = capacity["held"]
    last = f"**{held:g} {parameter}**" if held is not None else "**none** (the first step did not hold)"
    lines += ["", f"Last load held: {last}; stopped {capacity.get('stop_reason', '')}."]
    return lines


def summary_markdown(report: dict[str, Any]) -> str:
    machine = report.get("machine", {})
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(report["started_at"]))
    lines = [
        f"# huddle bench: {report['scenario']['name']}",
        "",
        scenario_line(report["scenario"]),
        "",
    ]
    if "capacity" in report:
        lines += [
            f"A capacity search: each run below sets `{report['capacity']['parameter']}` to the value in its "
            "row; the line above describes the scenario's other settings.",
            "",
        ]
    lines += [
        f"Command: `{' '.join(report['command'])}`  ",
        f"Started {started} on {machine.get('cpus', '?')} CPUs, {machine.get('platform', '?')}, "
        f"Python {machine.get('python', '?')}; {report['tool']}.",
        "",
    ]
    lines += runs_section(report["runs"])
    if "comparison" in report:
        lines += [""] + comparison_section(report)
    if "capacity" in report:
        lines += [""] + capacity_section(report)
    lines += [
        "",
        "Loss from RTP sequence numbers at the subscribers; latency from the publisher's send-time stamp "
        "to arrival; server CPU and packets from the server's /metrics over the window.",
    ]
    return "\n".join(lines) + "\n"
