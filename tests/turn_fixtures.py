"""A real coturn (Debian's ``turnserver``) started through ``huddle turn``, for the TURN tests.

``start_coturn`` listens and relays on one address (127.0.0.1 by default; the
UDP-blocked test uses its own veth address) and may relay only to the SFU's
address there. ``coturn`` is the pytest fixture on 127.0.0.1 that
tests/test_turn.py and tests/test_turn_tcp.py share. ``coturn_tls`` is the same
coturn also listening for TURN over TLS (``turns:``) with a self-signed certificate
for 127.0.0.1 (tests/test_turn_tls.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aioice import stun

from huddle_client import HuddleClient
from huddle_client.synthetic import ColourVideoTrack
from signalling.config import Config
from signalling.tls import TlsFiles, ensure_self_signed
from signalling.turn import TurnSettings
from tests.conftest import LOOPBACK, RunningServer, free_port, start_server
from tests.media_checks import close_to, video_colour

SECRET = "test-turn-secret-5f2c9e7a"


@dataclass
class Coturn:
    port: int
    log_file: Path
    ip: str = "127.0.0.1"
    # TURN over TLS (coturn's tls-listening-port), when started with a certificate.
    tls_port: int | None = None
    tls: TlsFiles | None = None

    @property
    def url(self) -> str:
        return f"turn:{self.ip}:{self.port}?transport=udp"

    @property
    def tcp_url(self) -> str:
        return f"turn:{self.ip}:{self.port}?transport=tcp"

    @property
    def tls_url(self) -> str:
        assert self.tls_port is not None, "coturn was started without a certificate"
        return f"turns:{self.ip}:{self.tls_port}?transport=tcp"


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


async def tls_handshake_succeeds(ip: str, port: int, ca_file: Path) -> bool:
    """Whether a TLS handshake with ``ip:port`` succeeds, trusting ``ca_file`` only."""
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(ip, port, ssl=context, server_hostname=ip), 1
        )
    except (OSError, TimeoutError):  # ssl.SSLError is an OSError
        return False
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 1)
    return True


@asynccontextmanager
async def start_coturn(
    tmp_path: Path, ip: str = "127.0.0.1", tls: TlsFiles | None = None
) -> AsyncIterator[Coturn]:
    """coturn listening and relaying on ``ip``, allowed to relay to ``ip`` (the SFU) only.

    With ``tls`` it also listens for TURN over TLS on a port of its own (``Coturn.tls_port``).
    """
    port = free_udp_port(ip)
    relay_start = 40000 + (os.getpid() * 7 + port) % 20000
    log_file = tmp_path / "turnserver.log"
    args = ["--listening-ip", ip, "--relay-ip", ip, "--media-address", ip]
    if ip.startswith("127."):
        args.append("--allow-loopback")
    tls_port = None
    if tls is not None:
        tls_port = free_udp_port(ip)  # coturn also listens for DTLS on it
        args += ["--tls-port", str(tls_port), "--cert", str(tls.cert), "--pkey", str(tls.key)]
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
        if tls is not None:
            assert tls_port is not None
            while not await tls_handshake_succeeds(ip, tls_port, tls.cert):
                if process.returncode is not None or time.monotonic() > deadline:
                    log = log_file.read_text() if log_file.exists() else ""
                    raise RuntimeError(f"turnserver's TLS port does not answer:\n{log[-3000:]}")
                await asyncio.sleep(0.1)
        yield Coturn(port, log_file, ip, tls_port, tls)
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


@pytest.fixture
async def coturn_tls(tmp_path: Path) -> AsyncIterator[Coturn]:
    """``coturn`` plus TURN over TLS, with a self-signed certificate for 127.0.0.1 made in tmp_path."""
    files = ensure_self_signed(tmp_path / "coturn-tls", "127.0.0.1")
    async with start_coturn(tmp_path, tls=files) as running:
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


async def exchange_video(relayed: HuddleClient, direct: HuddleClient, room: str) -> tuple[object, object]:
    """Join both, publish a red camera from ``relayed`` and a blue one from ``direct``,
    and check each decodes the other's colour; returns the relayed client's video
    sender and receiver (to look at their nominated pairs)."""
    await direct.join(room)
    await relayed.publish([(ColourVideoTrack((255, 0, 0)), "camera")])
    await direct.publish([(ColourVideoTrack((0, 0, 255)), "camera")])
    from_relayed = (await direct.wait_for_tracks(1, timeout=20))[0]
    assert close_to(await video_colour(from_relayed, timeout=20), (255, 0, 0))
    to_relayed = (await relayed.wait_for_tracks(1, timeout=20))[0]
    assert close_to(await video_colour(to_relayed, timeout=20), (0, 0, 255))
    (sent,) = [t for t in relayed.publisher_connection.getTransceivers() if t.kind == "video"]
    return sent.sender, to_relayed.receiver
