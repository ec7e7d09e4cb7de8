"""The capacity search: raise one load parameter step by step until a run passes a bound.

The load raised is ``participants`` (meeting, audio, broadcast), ``rooms`` (rooms) or
``chat_rate`` (chat). A step holds when every join succeeded, every expected track arrived,
media and chat loss stay within ``max_loss`` and the p95 latencies within ``max_p95_latency_ms``.
The search stops at the first step that does not hold; the report names the last one that did.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .compare import RunScenario
from .scenarios import Scenario, Target

REACHED_MAXIMUM = "reached --capacity-max"


@dataclass(frozen=True)
class Bounds:
    max_loss: float = 0.01  # fraction, 0..1
    max_p95_latency_ms: float = 200.0

    def to_json(self) -> dict[str, float]:
        return {"max_loss": self.max_loss, "max_p95_latency_ms": self.max_p95_latency_ms}


@dataclass(frozen=True)
class StepRule:
    """``+N`` (or ``N``) adds N at each step; ``xF`` (or ``*F``) multiplies by F."""

    amount: float
    multiplicative: bool = False

    @classmethod
    def parse(cls, text: str) -> StepRule:
        text = text.strip()
        multiplicative = text[:1] in ("x", "*")
        amount = float(text.lstrip("x*+"))
        if (multiplicative and amount <= 1) or (not multiplicative and amount <= 0):
            raise ValueError(f"step {text!r} would not raise the load")
        return cls(amount, multiplicative)

    def after(self, value: float, whole: bool) -> float:
        raised = value * self.amount if self.multiplicative else value + self.amount
        # whole numbers (participants, rooms) must still rise when a factor rounds back down
        return max(math.floor(value) + 1, math.floor(raised)) if whole else raised


def parameter_for(scenario: Scenario) -> str:
    return {"rooms": "rooms", "chat": "chat_rate"}.get(scenario.kind, "participants")


def load_values(start: float, rule: StepRule, maximum: float, whole: bool) -> list[float]:
    """The loads to try, ``start`` first, none above ``maximum``."""
    if start > maximum:
        raise ValueError(f"--capacity-start {start} is above --capacity-max {maximum}")
    values = [start]
    while (following := rule.after(values[-1], whole)) <= maximum:
        values.append(following)
    return values


def _over(value: float | None, bound: float) -> bool:
    return value is not None and value > bound


def judge(run: dict[str, Any], bounds: Bounds) -> str | None:
    """Why ``run`` did not hold under ``bounds``; None when it held."""
    joins = run["joins"]
    if joins["succeeded"] < joins["attempted"]:
        return f"joins failed: {joins['succeeded']} of {joins['attempted']} succeeded"
    if run["tracks_received"] < run["tracks_expected"]:
        return f"tracks received {run['tracks_received']} < expected {run['tracks_expected']}"
    totals = run["totals"]
    if totals["loss"] > bounds.max_loss:
        return f"loss {totals['loss'] * 100:.2f} % > {bounds.max_loss * 100:g} %"
    p95 = totals["latency_ms"]["p95"]
    if _over(p95, bounds.max_p95_latency_ms):
        return f"p95 latency {p95:.1f} ms > {bounds.max_p95_latency_ms:g} ms"
    chat = run["chat"]
    if chat["expected_deliveries"] and chat["lost"] / chat["expected_deliveries"] > bounds.max_loss:
        return f"chat lost {chat['lost']} of {chat['expected_deliveries']} deliveries"
    chat_p95 = chat["latency_ms"]["p95"]
    if _over(chat_p95, bounds.max_p95_latency_ms):
        return f"chat p95 latency {chat_p95:.1f} ms > {bounds.max_p95_latency_ms:g} ms"
    return None


def capacity_object(parameter: str, bounds: Bounds, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's ``capacity`` object: held is the highest load held below the first that failed."""
    failed = next((i for i, step in enumerate(steps) if not step["held"]), len(steps))
    stop = REACHED_MAXIMUM
    if failed < len(steps):
        stop = f"at {steps[failed]['value']:g}: {steps[failed]['reason']}"
    return {
        "parameter": parameter,
        "bounds": bounds.to_json(),
        "steps": steps,
        "held": steps[failed - 1]["value"] if failed else None,
        "stop_reason": stop,
    }


async def search(
    scenario: Scenario,
    target: Target,
    run: RunScenario,
    start: float,
    rule: StepRule,
    maximum: float,
    bounds: Bounds = Bounds(),
    progress: Callable[..., Any] | None = None,
    announce: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run ``scenario`` at each load until one does not hold; the runs and the capacity object."""
    parameter = parameter_for(scenario)
    whole = parameter != "chat_rate"
    runs: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    for value in load_values(start, rule, maximum, whole):
        announce(f"capacity: {parameter} = {value:g}")
        loaded = replace(scenario, **{parameter: int(value) if whole else value})
        try:
            result = await run(loaded, target, progress=progress)
        except Exception as exc:  # a load the server (or the tool) cannot take at all is a failed step
            steps.append({"value": value, "held": False, "reason": f"run failed: {exc!r}"})
            break
        result["label"] = f"{parameter}={value:g}"
        runs.append(result)
        reason = judge(result, bounds)
        step = {"value": value, "held": reason is None, "run": len(runs) - 1}
        if reason is not None:
            step["reason"] = reason
        steps.append(step)
        if reason is not None:
            break
    return runs, capacity_object(parameter, bounds, steps)


# --- the command line: ``huddle bench ... --capacity`` --------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "capacity search (raise participants, rooms for 'rooms', chat rate for 'chat', until a bound passes)"
    )
    group.add_argument("--capacity", action="store_true", help="search for the highest load held")
    group.add_argument(
        "--capacity-start", type=float, default=None, help="first load (default: the scenario's)"
    )
    group.add_argument(
        "--capacity-step",
        type=StepRule.parse,
        default=StepRule(1),
        help="+N adds N, xF multiplies by F (default +1)",
    )
    group.add_argument("--capacity-max", type=float, default=50, help="the highest load tried (default 50)")
    group.add_argument("--max-loss", type=float, default=1.0, help="loss bound in %% (default 1)")
    group.add_argument(
        "--max-latency", type=float, default=200.0, help="p95 latency bound in ms (default 200)"
    )


def selected(args: argparse.Namespace) -> bool:
    return bool(args.capacity)


async def run_mode(
    args: argparse.Namespace,
    scenario: Scenario,
    target: Target,
    run: RunScenario,
    progress: Callable[..., Any],
) -> tuple[list[dict[str, Any]], None, dict[str, Any]]:
    start = args.capacity_start
    if start is None:
        start = getattr(scenario, parameter_for(scenario))
    bounds = Bounds(max_loss=args.max_loss / 100, max_p95_latency_ms=args.max_latency)
    try:
        runs, result = await search(
            scenario, target, run, start, args.capacity_step, args.capacity_max, bounds, progress
        )
    except ValueError as exc:
        raise SystemExit(f"huddle bench: {exc}") from exc
    return runs, None, result
