"""A client whose UDP is dropped still joins through TURN over TCP and gets media.

The test builds its own network: a namespace ``huddle-client-<random>`` joined
to the root namespace by a veth pair, with a random /30 from 198.51.100.0/24
(TEST-NET-2) that exists only on the two veth ends, and no default route.
Huddle (in this process) and coturn listen on the root end; inside the
namespace iptables drops every UDP packet in and out, and the client
(tests/udp_blocked_client.py, a subprocess under ``ip netns exec``) has only
``turn:<root end>:<port>?transport=tcp`` to fall back on. A publisher in the
root namespace connects directly. Namespace and veth are removed afterwards.

Skipped only where namespaces cannot be created (no CAP_SYS_ADMIN/CAP_NET_ADMIN).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from huddle_client import HuddleClient
from huddle_client.synthetic import ColourVideoTrack
from signalling.config import Config
from signalling.tokens import ApiKeys
from signalling.turn import TurnSettings
from tests.conftest import start_server, token_for
from tests.media_checks import close_to, video_colour
from tests.turn_fixtures import SECRET, free_udp_port, start_coturn
from tests.udp_blocked_client import COLOUR as BLOCKED_COLOUR

ROOT = Path(__file__).resolve().parents[1]
PUBLISHER_COLOUR = (30, 200, 40)  # green


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=20)


def _must(*args: str) -> None:
    done = _run(*args)
    assert done.returncode == 0, f"{' '.join(args)}: {done.stderr.strip()}"


@dataclass
class Namespace:
    name: str
    root_address: str  # the veth end in the root namespace
    address: str  # the veth end inside the namespace

    def command(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    if shutil.which("ip") is None:
        pytest.skip("no `ip` command (iproute2): cannot create network namespaces")
    tag = secrets.token_hex(3)
    name, outside, inside = f"huddle-client-{tag}", f"hcr{tag}", f"hcc{tag}"
    base = 4 * secrets.randbelow(64)  # a random /30: concurrent runs do not collide
    root_address, address = f"198.51.100.{base + 1}", f"198.51.100.{base + 2}"
    created = _run("ip", "netns", "add", name)
    if created.returncode != 0:
        pytest.skip(f"cannot create a network namespace (`ip netns add`): {created.stderr.strip()}")
    try:
        if shutil.which("iptables") is None:
            pytest.fail("iptables is missing: scripts/test installs Debian's iptables package")
        _must("ip", "link", "add", outside, "type", "veth", "peer", "name", inside, "netns", name)
        _must("ip", "addr", "add", f"{root_address}/30", "dev", outside)
        _must("ip", "link", "set", outside, "up")
        _must("ip", "netns", "exec", name, "ip", "addr", "add", f"{address}/30", "dev", inside)
        _must("ip", "netns", "exec", name, "ip", "link", "set", inside, "up")
        _must("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield Namespace(name, root_address, address)
    finally:
        _run("ip", "link", "del", outside)  # also removes the peer; gone already if the netns took it
        _run("ip", "netns", "del", name)
    assert name not in _run("ip", "netns", "list").stdout
    assert _run("ip", "link", "show", outside).returncode != 0


def _drop_udp(ns: Namespace) -> None:
    for chain in ("OUTPUT", "INPUT"):
        _must(*ns.command("iptables", "-A", chain, "-p", "udp", "-j", "DROP"))


async def _in_namespace(ns: Namespace, *args: str, timeout: float) -> dict:
    process = await asyncio.create_subprocess_exec(
        *ns.command(sys.executable, "-m", "tests.udp_blocked_client", *args),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), 10)
    assert process.returncode == 0, stderr.decode()[-3000:]
    return json.loads(stdout.decode().strip().splitlines()[-1])


async def test_udp_blocked_client_gets_media_through_turn_over_tcp(namespace: Namespace, tmp_path: Path):
    ns = namespace
    async with start_coturn(tmp_path, ip=ns.root_address) as coturn:
        # Before the rules, UDP from the namespace reaches coturn; after, it does not.
        assert (await _in_namespace(ns, "probe-udp", ns.root_address, str(coturn.port), timeout=20))[
            "answered"
        ]
        _drop_udp(ns)
        assert not (await _in_namespace(ns, "probe-udp", ns.root_address, str(coturn.port), timeout=20))[
            "answered"
        ]

        config = Config(
            host=ns.root_address,
            port=free_udp_port(ns.root_address),
            media_addresses=[ns.root_address],
            data_dir=tmp_path / "data",
            empty_room_timeout=0.5,
            turn=TurnSettings(secret=SECRET, urls=[coturn.tcp_url], ttl=600),
            api_keys=ApiKeys.parse("test-key: " + "s" * 40),
        )
        running, runner = await start_server(config)
        publisher = HuddleClient(
            running.url,
            name="Publisher",
            host_addresses=[ns.root_address],
            token=token_for(config, "blocked", "publisher"),
        )
        try:
            await publisher.join("blocked")
            await publisher.publish([(ColourVideoTrack(PUBLISHER_COLOUR), "camera")])
            blocked = asyncio.create_task(
                _in_namespace(
                    ns,
                    "join",
                    running.url,
                    "blocked",
                    ns.address,
                    "--token",
                    token_for(config, "blocked", "blocked"),
                    "--frames",
                    "30",
                    timeout=60,
                )
            )
            try:
                # The publisher decodes what the UDP-blocked client sends ...
                (from_blocked,) = await publisher.wait_for_tracks(1, timeout=40)
                assert close_to(await video_colour(from_blocked, timeout=20), BLOCKED_COLOUR)
                result = await blocked
            finally:
                if not blocked.done():
                    blocked.cancel()
                    await asyncio.gather(blocked, return_exceptions=True)
        finally:
            await asyncio.wait_for(publisher.close(), 10)
            await asyncio.wait_for(runner.cleanup(), timeout=20)

    # ... and the client decoded the publisher's video, all of it through coturn over TCP.
    assert result["ice_servers"] == [[coturn.tcp_url]], result
    assert result["frames"] >= 30, json.dumps(result)
    assert close_to(tuple(result["colour"]), PUBLISHER_COLOUR), result
    for pair in (result["publisher_pair"], result["subscriber_pair"]):
        assert pair == {"local": "relay", "remote": "host", "turn_transport": "tcp"}, result
