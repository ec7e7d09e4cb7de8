"""Schemathesis against the served OpenAPI document, while a call goes on in the same server.

Valid and invalid requests for every operation (free path parameters, and pinned
to a room with a live participant and track so that the 2xx answers are checked
too) must never get a 5xx, must match the document, and must not disturb the
call: its subscriber keeps receiving packets throughout and after.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from huddle_client import HuddleClient
from signalling.tokens import ApiKeys, Grants, mint_token
from tests.conftest import LOOPBACK, ServerProcess, wait_until
from tests.test_admin_api import PacketCounts, small_video

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    ignored_auth,
]
EXAMPLES = {"first": 5, "pinned": 10, "more": 15}  # per operation and generation mode
BUDGET = 20.0  # seconds of fuzzing: on a loaded machine the later passes are cut short
# Invalid requests must be refused with one of these (413: an over-long string may pass the body limit).
REJECTIONS = ["400", "401", "403", "404", "405", "409", "413"]
LIVE_ROOM = "live-call-q7"  # not a name the fuzzer's path parameters will hit


def fuzz(base_url: str, token: str, pinned: dict[str, str]) -> tuple[list[str], dict[int, int], list[str]]:
    """Run schemathesis; returns failures, a count of statuses and the passes completed."""
    deadline = time.monotonic() + BUDGET
    session = requests.Session()
    document = session.get(base_url + "/api/v1/openapi.json", timeout=5).json()
    config = schemathesis.Config.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}}
    )
    schema = schemathesis.openapi.from_dict(document, config=config)
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: list[str] = []
    statuses: dict[int, int] = {}
    completed: list[str] = []
    auth = {"Authorization": f"Bearer {token}"}

    def run(operation: Any, mode: GenerationMode, examples: int, path_parameters: dict[str, str]) -> None:
        if time.monotonic() > deadline:
            return

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters or None))
        def one(case: Any) -> None:
            if time.monotonic() > deadline:
                return
            response = case.call(base_url=base_url, session=session, headers=auth, timeout=5)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            try:
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a group of failures
                failures.append(f"{operation.label} {mode.name} -> {response.status_code}: {str(exc)[:800]}")

        one()
        if time.monotonic() <= deadline:
            completed.append(
                f"{operation.label} {mode.name} {examples}{' pinned' if path_parameters else ''}"
            )

    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    # First a few examples of everything, then the pinned room (deletions last, so that the
    # room and participant exist for the other operations), then more of everything.
    for operation in operations:
        for mode in modes:
            run(operation, mode, EXAMPLES["first"], {})
    for operation in sorted(operations, key=lambda op: op.method.upper() == "DELETE"):
        names = {p.name for p in operation.path_parameters}
        if names:
            run(operation, GenerationMode.POSITIVE, EXAMPLES["pinned"], {n: pinned[n] for n in names})
    for operation in operations:
        for mode in modes:
            run(operation, mode, EXAMPLES["more"], {})
    return failures, statuses, completed


async def fuzz_in_process(
    base_url: str, token: str, pinned: dict[str, str]
) -> tuple[list[str], dict[int, int], list[str]]:
    """:func:`fuzz` in a process of its own (niced): its CPU work must not starve this
    process's event loop, whose clients measure the live call."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.test_admin_fuzz",
        base_url,
        token,
        json.dumps(pinned),
        stdout=asyncio.subprocess.PIPE,
        preexec_fn=lambda: os.nice(10),
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), BUDGET + 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, "the fuzzing process failed"
    failures, statuses, completed = json.loads(output.decode().splitlines()[-1])
    return failures, {int(s): n for s, n in statuses.items()}, completed


def longest_pause(samples: list[tuple[float, int]]) -> float:
    """The longest time between two increases of a sampled packet count."""
    longest, last_rise = 0.0, samples[0][0]
    for (_, before), (at, count) in zip(samples, samples[1:], strict=False):
        if count > before:
            longest, last_rise = max(longest, at - last_rise), at
    return max(longest, samples[-1][0] - last_rise)


async def test_schemathesis_finds_no_5xx_or_schema_drift_and_the_call_goes_on(tmp_path: Path):
    key, secret = ApiKeys.generate()
    # The fuzzer sends hundreds of forged tokens from one address: a budget that large
    # keeps the address limit (tests/test_address_limits.py) out of this test's way.
    server = ServerProcess(
        tmp_path / "data",
        extra_args=["--auth-failures", "100000"],
        env={**os.environ, "HUDDLE_API_KEYS": f"{key}: {secret}"},
    )
    await server.start()
    counts = PacketCounts()

    def person(name: str, room: str, identity: str, **kwargs: Any) -> HuddleClient:
        token = mint_token(key, secret, identity, room, name=name)
        return HuddleClient(
            server.url, name=name, identity=identity, host_addresses=LOOPBACK, token=token, **kwargs
        )

    publisher = person("Publisher", LIVE_ROOM, "pub")
    subscriber = person("Subscriber", LIVE_ROOM, "sub", packet_sink=counts)
    target = person("Target", "fuzz", "fuzzer")  # what the pinned requests act on
    samples: list[tuple[float, int]] = []

    async def sample() -> None:
        while True:
            samples.append((time.monotonic(), counts.total()))
            await asyncio.sleep(0.1)

    sampler: asyncio.Task[None] | None = None
    try:
        await publisher.join(LIVE_ROOM)
        await subscriber.join(LIVE_ROOM)
        await target.join("fuzz")
        await publisher.publish_clips([(small_video(), "camera")])
        await target.publish_clips([(small_video(), "camera")])
        await subscriber.wait_for_tracks(1)
        await wait_until(lambda: counts.total() > 10, timeout=10)
        sampler = asyncio.create_task(sample())
        await asyncio.sleep(2.0)  # the call's own rhythm, for comparison

        admin = mint_token(key, secret, "ops", None, grants=Grants(admin=True))
        pinned = {"room": "fuzz", "identity": "fuzzer", "track_id": next(iter(target.published.values()))}
        started = time.monotonic()
        failures, statuses, completed = await fuzz_in_process(server.url, admin, pinned)
        fuzz_seconds = time.monotonic() - started
        before_after = counts.total()
        await asyncio.sleep(1.0)
        after = counts.total()
    finally:
        if sampler is not None:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        for client in (publisher, subscriber, target):
            await client.close()
        await server.stop()

    # The live call: packets kept arriving during the whole run (no silent second) and after it.
    longest = longest_pause([(t, n) for t, n in samples if started <= t])
    calm = longest_pause([(t, n) for t, n in samples if t < started])
    print(
        f"fuzzed {sum(statuses.values())} requests ({len(completed)} passes) in {fuzz_seconds:.1f} s, "
        f"statuses {sorted(statuses.items())}; longest pause in the call's packets {longest:.2f} s "
        f"(before: {calm:.2f} s)"
    )
    assert longest < 1.5, f"the live call stalled for {longest:.2f} s during the fuzzing"
    assert after > before_after, "the live call stopped after the fuzzing"
    assert not failures, "\n\n".join(failures[:5])
    assert not [s for s in statuses if s >= 500]
    first = [c for c in completed if c.endswith(f" {EXAMPLES['first']}")]
    assert len(first) == 2 * 11, f"fuzzing ran out of time: {completed}"
    assert sum(n for s, n in statuses.items() if s < 300) >= 20, f"too few accepted requests: {statuses}"


if __name__ == "__main__":
    print(json.dumps(fuzz(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))))
