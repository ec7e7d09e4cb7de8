"""Turn what the workers measured into one ``run`` object of report_schema.json."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .stats import merged_histogram, merged_summary, percentiles


@dataclass
class RunContext:
    """What the runner knows besides the workers' figures."""

    target: str
    label: str
    load: dict[str, Any]
    window_s: float
    server: dict[str, Any] | None
    timeline: list[dict[str, Any]]
    errors: Counter[str] = field(default_factory=Counter)
    messages: dict[str, str] = field(default_factory=dict)  # error code -> an example message


def _since_both_joined(at: float | None, subscriber: float | None, publisher: float | None) -> float | None:
    """Seconds from the moment both ends had started joining to ``at``."""
    if at is None or subscriber is None:
        return None
    return round(at - max(subscriber, publisher or subscriber), 4)


def _track(raw: dict[str, Any], window_s: float, joins: dict[str, float | None]) -> dict[str, Any]:
    expected = raw["expected"]
    lost = expected - raw["packets"]
    subscriber_join = joins.get(raw["subscriber"])
    publisher_join = joins.get(raw["publisher"])
    return {
        "subscriber": raw["subscriber"],
        "publisher": raw["publisher"],
        "kind": raw["kind"],
        "packets": raw["packets"],
        "bytes": raw["bytes"],
        "lost": lost,
        "loss": round(lost / expected, 6) if expected > 0 else 0.0,
        "bitrate_kbps": round(raw["bytes"] * 8 / 1000 / window_s, 3) if window_s > 0 else 0.0,
        "jitter_ms": raw["jitter_ms"],
        "latency_ms": merged_summary([raw["latency"]]),
        "first_packet_s": _since_both_joined(raw["first_packet"], subscriber_join, publisher_join),
        "first_keyframe_s": _since_both_joined(raw["first_keyframe"], subscriber_join, publisher_join),
        "retransmissions": raw["retransmissions"],
    }


def _chat(participants: list[dict[str, Any]]) -> dict[str, Any]:
    members: Counter[str] = Counter(p["room"] for p in participants if p["joined"])
    sent = sum(p["chat"]["sent"] for p in participants)
    expected = sum(p["chat"]["sent"] * (members[p["room"]] - 1) for p in participants)
    delivered = sum(p["chat"]["delivered"] for p in participants)
    return {
        "sent": sent,
        "acked": sum(p["chat"]["acked"] for p in participants),
        "expected_deliveries": expected,
        "delivered": delivered,
        "lost": expected - delivered,
        "latency_ms": merged_summary([p["chat"]["latency"] for p in participants]),
    }


def build_run(context: RunContext, worker_results: list[dict[str, Any]]) -> dict[str, Any]:
    participants = [p for result in worker_results for p in result["participants"]]
    errors = Counter(context.errors)
    messages = dict(context.messages)
    for result in worker_results:
        errors.update(result["errors"])
        for code, message in result.get("messages", {}).items():
            messages.setdefault(code, message)
    joins = {p["name"]: p["join_started"] for p in participants}
    raw_tracks = [t for p in participants if p["joined"] for t in p["tracks"]]
    tracks = [_track(t, context.window_s, joins) for t in raw_tracks]
    received = sum(1 for t in tracks if t["packets"] > 0)
    expected_tracks = sum(p["expected_tracks"] for p in participants)
    if received < expected_tracks:
        errors["tracks_missing"] += expected_tracks - received
    packets = sum(t["packets"] for t in tracks)
    size = sum(t["bytes"] for t in tracks)
    expected_packets = sum(t["packets"] + t["lost"] for t in tracks)
    lost = expected_packets - packets
    window = context.window_s
    totals = {
        "packets": packets,
        "bytes": size,
        "lost": lost,
        "loss": round(lost / expected_packets, 6) if expected_packets > 0 else 0.0,
        "bitrate_kbps": round(size * 8 / 1000 / window, 3) if window > 0 else 0.0,
        "jitter_ms": percentiles(t["jitter_ms"] for t in tracks),
        "latency_ms": merged_summary([t["latency"] for t in raw_tracks]),
        "retransmissions": sum(t["retransmissions"] for t in tracks),
    }
    histogram = merged_histogram([t["latency"] for t in raw_tracks])
    if histogram is not None:
        totals["latency_histogram"] = histogram
    return {
        "target": context.target,
        "label": context.label,
        "load": context.load,
        "window_s": round(window, 3),
        "joins": {
            "attempted": len(participants),
            "succeeded": sum(1 for p in participants if p["joined"]),
            "join_s": percentiles(p["join_s"] for p in participants if p["join_s"] is not None),
            "first_packet_s": percentiles(
                t["first_packet_s"] for t in tracks if t["first_packet_s"] is not None
            ),
            "first_keyframe_s": percentiles(
                t["first_keyframe_s"] for t in tracks if t["first_keyframe_s"] is not None
            ),
        },
        "tracks_expected": expected_tracks,
        "tracks_received": received,
        "tracks": tracks,
        "totals": totals,
        "chat": _chat(participants),
        "errors": [
            {
                "code": code,
                "count": count,
                **({"message": messages[code]} if code in messages else {}),
            }
            for code, count in sorted(errors.items())
        ],
        "server": context.server,
        "timeline": context.timeline,
    }
