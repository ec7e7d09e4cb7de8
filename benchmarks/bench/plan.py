"""Who joins where and when: a scenario turned into participant plans, reproducibly from its seed."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from .scenarios import Scenario


@dataclass
class ParticipantPlan:
    name: str  # also the identity: unique within a run
    room: str
    publish: bool
    expected_tracks: int  # tracks it must receive: every other publisher's in its room
    join_offset: float  # seconds after the ramp starts
    chat_rate: float  # messages/s it sends during the measured window

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def tracks_per_publisher(scenario: Scenario) -> int:
    return int(scenario.sent_video is not None) + int(scenario.sends_audio)


def plan_participants(scenario: Scenario, room_prefix: str) -> list[ParticipantPlan]:
    """Participants in join order. Names, rooms, roles and join order depend only on the scenario."""
    rng = random.Random(scenario.seed)
    members: list[tuple[str, int, bool]] = []  # name, room index, publishes
    if scenario.kind == "broadcast":
        members += [(f"pub{i:03d}", 0, True) for i in range(scenario.publishers)]
        members += [(f"sub{i:04d}", 0, False) for i in range(scenario.participants)]
    elif scenario.kind == "rooms":
        for room in range(scenario.rooms):
            members += [(f"r{room:03d}p{i:03d}", room, True) for i in range(scenario.participants)]
    else:
        publishes = scenario.kind != "chat"
        members += [(f"p{i:04d}", 0, publishes) for i in range(scenario.participants)]
    per_track = tracks_per_publisher(scenario)
    publishers_in = [sum(1 for _, r, p in members if r == room and p) for room in range(scenario.rooms or 1)]
    order = list(members)
    rng.shuffle(order)
    if scenario.kind == "broadcast":  # publishers first: subscribers come to watch them
        order.sort(key=lambda m: not m[2])
    chatters = [m for m in order if scenario.chat_rate > 0]
    rate_each = scenario.chat_rate / len(chatters) if chatters else 0.0
    return [
        ParticipantPlan(
            name=name,
            room=f"{room_prefix}-{room}",
            publish=publishes,
            expected_tracks=(publishers_in[room] - int(publishes)) * per_track,
            join_offset=index / scenario.ramp,
            chat_rate=rate_each,
        )
        for index, (name, room, publishes) in enumerate(order)
    ]
