"""A real coturn (Debian's ``turnserver``) started through ``huddle turn``, for the TURN tests.

``start_coturn`` listens and relays on one address (127.0.0.1 by default; the
UDP-blocked test uses its own veth address) and may relay only to the SFU's
address there. ``coturn`` is the pytest fixture on 127.0.0.1 that
tests/test_turn.py and tests/test_turn_tcp.py share.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aioice import stun

from huddle_client import HuddleClient
from signalling.config import Config
from signalling.turn import TurnSettings
from tests.conftest import LOOPBACK, RunningServer, free_port, start_server

SECRET = "test-turn-secret-5f2c9e7a"


@dataclass
class Coturn:
    port: int
    log_file: Path
    ip: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"turn:{self.ip}:{self.port}?transport=udp"

    @property
    def tcp_url(self) -> str:
        return f"turn:{self.ip}:{self.port}?transport=tcp"


def free_udp_port(ip: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP on ``ip`` (coturn listens on both)."""
    while True:
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, socket.socket() as t:
            try:
                s.bind((ip, port))
                t.bind((ip, port))
            except OSError:
                continue
        return port


async def stun_binding_answers(ip: str, port: int) -> bool:
    loop = asyncio.get_running_loop()
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    answered = loop.create_future()

    class Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr) -> None:
            if not answered.done():
                answered.set_result(True)

    transport, _ = await loop.create_datagram_endpoint(Probe, remote_addr=(ip, port))
    try:
        transport.sendto(bytes(request))
        await asyncio.wait_for(answered, 0.2)
        return True
    except TimeoutError:
        return False
    finally:
        transport.close()


@asynccontextmanager
async def start_coturn(tmp_path: Path, ip: str = "127.0.0.1") -> AsyncIterator[Coturn]:
    """coturn listening and relaying on ``ip``, allowed to relay to ``ip`` (the SFU) only."""
    port = free_udp_port(ip)
    relay_start = 40000 + (os.getpid() * 7 + port) % 20000
    log_file = tmp_path / "turnserver.log"
    args = ["--listening-ip", ip, "--relay-ip", ip, "--media-address", ip]
    if ip.startswith("127."):
        args.append("--allow-loopback")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "signalling.cli",
        "turn",
        "--turn-secret",
        SECRET,
        *args,
        "--port",
        str(port),
        "--min-port",
        str(relay_start),
        "--max-port",
        str(relay_start + 20),
        "--log-file",
        str(log_file),
        "--config-out",
        str(tmp_path / "turnserver.conf"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not await stun_binding_answers(ip, port):
            if process.returncode is not None or time.monotonic() > deadline:
                log = log_file.read_text() if log_file.exists() else ""
                raise RuntimeError(f"turnserver did not start (exit {process.returncode}):\n{log[-3000:]}")
        yield Coturn(port, log_file, ip)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await asyncio.wait_for(process.wait(), 5)


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[Coturn]:
    async with start_coturn(tmp_path) as running:
        yield running


@asynccontextmanager
async def huddle_with_turn(tmp_path: Path, turn_url: str) -> AsyncIterator[RunningServer]:
    """An in-process Huddle that hands out credentials for ``turn_url`` (secret ``SECRET``)."""
    config = Config(
        port=free_port(),
        data_dir=tmp_path / "data",
        empty_room_timeout=0.5,
        turn=TurnSettings(secret=SECRET, urls=[turn_url], ttl=600),
    )
    running, runner = await start_server(config)
    try:
        yield running
    finally:
        await asyncio.wait_for(runner.cleanup(), timeout=20)


@asynccontextmanager
async def relayed_and_direct(url: str) -> AsyncIterator[tuple[HuddleClient, HuddleClient]]:
    """Two clients of the Huddle at ``url``, both closed at the end: one that may use
    relay (TURN) candidates only, and one that reaches the SFU directly on loopback."""
    relayed = HuddleClient(url, name="Relayed", host_addresses=LOOPBACK, ice_transport_policy="relay")
    direct = HuddleClient(url, name="Direct", host_addresses=LOOPBACK)
    try:
        yield relayed, direct
    finally:
        await direct.close()
        await relayed.close()


def nominated_pair(sender_or_receiver: object) -> tuple[object, object]:
    """(aioice connection, its nominated pair) behind an aiortc sender or receiver."""
    connection = sender_or_receiver.transport.transport._connection  # aioice internals, tests only
    pairs = connection._nominated
    assert pairs, "no nominated candidate pair"
    return connection, pairs[1]
