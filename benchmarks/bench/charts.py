"""PNG charts of a report (matplotlib, Agg): one chart per file, 800 px wide, one line or colour per run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .summary import run_name  # noqa: E402

WIDTH_PX, HEIGHT_PX, DPI = 800, 450, 100


def new_chart(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    figure, axes = plt.subplots(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    return figure, axes


def finish(figure: Figure, axes: Axes, path: Path, drawn: bool) -> Path:
    if drawn:
        if len(axes.get_legend_handles_labels()[0]) > 1:
            axes.legend(fontsize="small", loc="best")
    else:
        axes.text(0.5, 0.5, "no data in this report", ha="center", va="center", transform=axes.transAxes)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def timeline_chart(
    runs: list[dict[str, Any]], path: Path, field: str, scale: float, title: str, ylabel: str
) -> Path:
    figure, axes = new_chart(title, "time since the window opened (s)", ylabel)
    drawn = False
    for run in runs:
        points = [p for p in run["timeline"] if p.get(field) is not None]
        if points:
            axes.plot([p["t"] for p in points], [p[field] * scale for p in points], label=run_name(run))
            drawn = True
    axes.set_ylim(bottom=0)
    return finish(figure, axes, path, drawn)


def latency_cdf(run: dict[str, Any]) -> tuple[list[float], list[float]] | None:
    """(ms, fraction of packets at or under): from the run's histogram if it has one, else its percentiles."""
    totals = run["totals"]
    histogram = totals.get("latency_histogram")
    if histogram and sum(histogram["counts"]):
        total, running = sum(histogram["counts"]), 0
        xs, ys = [histogram["edges_ms"][0]], [0.0]
        for edge, count in zip(histogram["edges_ms"][1:], histogram["counts"], strict=True):
            running += count
            xs.append(edge)
            ys.append(running / total)
        return xs, ys
    latency = totals["latency_ms"]
    points = [(latency.get(key), fraction) for key, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))]
    points.append((latency.get("max"), 1.0))
    points = [(x, y) for x, y in points if x is not None]
    return ([x for x, _ in points], [y for _, y in points]) if points else None


def latency_chart(runs: list[dict[str, Any]], path: Path) -> Path:
    figure, axes = new_chart(
        "End-to-end media latency, publisher to subscriber",
        "latency (ms, log scale)",
        "fraction of packets at or under",
    )
    # a loaded server's seconds and an idle one's fractions of a millisecond on one readable axis
    axes.set_xscale("log")
    drawn = False
    for run in runs:
        cdf = latency_cdf(run)
        if cdf is None:
            continue
        has_histogram = bool(run["totals"].get("latency_histogram"))
        style = {} if has_histogram else {"marker": "o"}  # within a bin, samples are taken as evenly spread
        points = [(x, y) for x, y in zip(*cdf, strict=True) if x > 0]
        if not points:
            continue
        axes.plot(*zip(*points, strict=True), label=run_name(run), **style)
        drawn = True
    if drawn and not any(run["totals"].get("latency_histogram") for run in runs):
        axes.set_title("End-to-end media latency: p50, p95, p99 and max")
    axes.set_ylim(0, 1.02)
    return finish(figure, axes, path, drawn)


def server_cpu_chart(runs: list[dict[str, Any]], path: Path) -> Path:
    figure, axes = new_chart(
        "Server CPU against forwarded packets", "packets forwarded by the server (/s)", "server CPU (cores)"
    )
    drawn = False
    for run in runs:
        points = [
            (p["server_packets_out_per_s"], p["server_cpu"])
            for p in run["timeline"]
            if p.get("server_packets_out_per_s") is not None and p.get("server_cpu") is not None
        ]
        if not points:
            continue
        (line,) = axes.plot(*zip(*points, strict=True), "o", alpha=0.6, label=run_name(run))
        per_packet = (run["server"] or {}).get("cpu_us_per_forwarded_packet")
        if per_packet:
            top = max(x for x, _ in points)
            axes.plot([0, top], [0, top * per_packet / 1e6], "--", color=line.get_color(), linewidth=1)
        drawn = True
    if drawn:
        axes.text(
            0.01, 0.98, "dashed: the run's mean CPU per forwarded packet", transform=axes.transAxes, va="top"
        )
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    return finish(figure, axes, path, drawn)


def write_charts(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    runs = report["runs"]
    return {
        "bitrate": timeline_chart(
            runs, out_dir / "bitrate.png", "bitrate_kbps", 1.0, "Bitrate received, all subscribers", "kbit/s"
        ),
        "loss": timeline_chart(
            runs, out_dir / "loss.png", "loss", 100.0, "Packet loss at the subscribers", "loss (% of packets)"
        ),
        "latency": latency_chart(runs, out_dir / "latency.png"),
        "server_cpu": server_cpu_chart(runs, out_dir / "server_cpu.png"),
    }
