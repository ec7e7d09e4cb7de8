"""The SFU's media sockets stay inside --media-ports; --media-public-address goes into its SDP.

Real aiortc peers on 127.0.0.1. The port blocks are taken below the kernel's
ephemeral range (32768 and up), so the test clients' own random ports, bound in
the same process, never land in them.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.rtcconfiguration import RTCBundlePolicy

import sfu.network
from huddle_client import HuddleClient
from huddle_client.client import PROTOCOL_VERSION, HuddleError
from huddle_client.synthetic import ColourVideoTrack
from sfu.network import PortRange
from signalling.app import conference_key
from signalling.config import Config
from tests.conftest import ServerProcess, free_port, start_server, token_for, wait_until
from tests.media_checks import COLOURS, close_to, media_for, tracks_by_sender, video_colour, wait_for_colour

PUBLIC = "203.0.113.7"  # TEST-NET-3: documentation only, never routed


def free_block(size: int, start: int = 20000, stop: int = 32000) -> PortRange:
    """``size`` consecutive UDP ports on 127.0.0.1 that nothing holds right now."""
    port = start + (os.getpid() * 37) % 4000  # spread concurrent runs apart
    while port + size <= stop:
        held: list[socket.socket] = []
        try:
            for p in range(port, port + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(s)
                s.bind(("127.0.0.1", p))
            return PortRange(port, port + size - 1)
        except OSError:
            port = p + 1
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free block of UDP ports")


def sfu_socket_ports(server) -> list[int]:
    """Local ports of every socket the SFU's ICE agents hold (walks the SFU's connections)."""
    media = server.app[conference_key].media
    ports = []
    for room in media._rooms.values():
        for participant in room.participants.values():
            for pc in (participant.publisher._pc, participant.subscriber._pc):
                if pc is None:
                    continue
                transports = {t.sender.transport.transport for t in pc.getTransceivers()}
                if pc.sctp is not None:
                    transports.add(pc.sctp.transport.transport)
                for ice in transports:
                    for protocol in ice.iceGatherer._connection._protocols:
                        ports.append(protocol.transport.get_extra_info("sockname")[1])
    return ports


@pytest.fixture
async def ranged_server(tmp_path: Path, request):
    config = Config(port=free_port(), data_dir=tmp_path / "data", empty_room_timeout=0.5, **request.param)
    running, runner = await start_server(config)
    try:
        yield running
    finally:
        await asyncio.wait_for(runner.cleanup(), timeout=20)
        sfu.network.use_media_ports(None)
        sfu.network.use_public_address(None)


@pytest.fixture
async def ranged_clients(ranged_server):
    from contextlib import AsyncExitStack

    from huddle_client import HuddleClient

    async with AsyncExitStack() as stack:

        def make(name: str) -> HuddleClient:
            client = HuddleClient(ranged_server.url, name=name, host_addresses=["127.0.0.1"])
            stack.push_async_callback(client.close)
            return client

        yield make


async def see_each_other(people) -> None:
    for person in people:
        await person.wait_for_tracks(2 * (len(people) - 1), timeout=15)
        received = tracks_by_sender(person)
        for index, other in enumerate(people):
            if other is not person:
                colour = await video_colour(received[(other.participant_id, "video")])
                assert close_to(colour, COLOURS[index]), f"{person.name} saw {colour} from {other.name}"


SEVEN = free_block(7)


@pytest.mark.parametrize("ranged_server", [{"media_ports": SEVEN}], indirect=True)
async def test_media_uses_only_the_range_and_a_full_range_is_a_clear_error(ranged_server, ranged_clients):
    people = [ranged_clients(f"P{i}") for i in range(3)]
    for person in people:
        await person.join("ports")
    for index, person in enumerate(people):
        await person.publish(media_for(index))
    await see_each_other(people)

    ports = sfu_socket_ports(ranged_server)
    assert len(ports) == 6, ports  # a publishing and a subscribing connection each, one address
    assert all(p in SEVEN for p in ports), (ports, SEVEN)

    # The 7th port goes to the next joiner's subscribing connection; its publishing
    # connection finds the range full and is refused with a clear error.
    late = ranged_clients("Late")
    with pytest.raises(HuddleError) as refused:
        await asyncio.wait_for(late.join("ports"), 10)
    assert refused.value.code == "negotiation_error"
    assert f"no free UDP port in the media port range {SEVEN}" in refused.value.message
    assert all(p in SEVEN for p in sfu_socket_ports(ranged_server))

    # A joiner that cannot even get a subscribing connection is let go, not left hanging.
    last = ranged_clients("Last")
    started = asyncio.get_running_loop().time()
    with pytest.raises((HuddleError, aiohttp.ClientError, ConnectionError)):
        await asyncio.wait_for(last.join("ports"), 10)
    await wait_until(lambda: last._ws.closed, timeout=5)
    assert last._ws.close_code == 4000  # "media connection failed"
    assert asyncio.get_running_loop().time() - started < 5
    await wait_until(lambda: len(ranged_server.app[conference_key].rooms["ports"].peers) <= 4, timeout=10)

    # The others are unaffected: media still flows, each still sees the other two.
    for person in people:
        assert person.errors == []
        received = tracks_by_sender(person)
        for index, other in enumerate(people):
            if other is not person:
                colour = await video_colour(received[(other.participant_id, "video")])
                assert close_to(colour, COLOURS[index])

    # Ports come back when people leave.
    await late.close()
    await last.close()
    await people[2].leave()
    await wait_until(lambda: len(sfu_socket_ports(ranged_server)) == 4, timeout=10)
    again = ranged_clients("Again")
    await asyncio.wait_for(again.join("ports"), 10)
    await again.publish([(ColourVideoTrack(COLOURS[3]), "camera")])
    await wait_until(lambda: (again.participant_id, "video") in tracks_by_sender(people[0]), timeout=15)
    # (the reused m-line may still hold a frame or two of the one who left)
    await wait_for_colour(tracks_by_sender(people[0])[(again.participant_id, "video")], COLOURS[3])
    assert all(p in SEVEN for p in sfu_socket_ports(ranged_server))


def udp_ports_of(pid: int) -> list[int]:
    """Local ports of every UDP socket process ``pid`` has open (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = []
    for table in ("udp", "udp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def test_huddle_serve_opens_udp_sockets_only_in_the_range(tmp_path: Path):
    """Every UDP socket of a ``huddle serve --media-ports`` process, seen from /proc."""
    block = free_block(20, start=24000)
    server = ServerProcess(tmp_path / "data", extra_args=["--media-ports", str(block)])
    await server.start()
    people = [HuddleClient(server.url, name=f"P{i}", host_addresses=["127.0.0.1"]) for i in range(3)]
    try:
        for person in people:
            await person.join("proc")
        for index, person in enumerate(people):
            await person.publish(media_for(index))
        await see_each_other(people)
        ports = udp_ports_of(server.process.pid)
        assert len(ports) >= 6, ports
        assert all(p in block for p in ports), (ports, block)
    finally:
        for person in people:
            await person.close()
        await server.kill()


@pytest.mark.parametrize("ranged_server", [{"media_public_address": PUBLIC}], indirect=True)
async def test_public_address_is_announced_in_the_servers_sdp(ranged_server):
    """The server's answers and offers carry the public address; nobody connects through it."""
    config = RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    ws_url = ranged_server.url.replace("http", "ws", 1) + "/ws"
    pcs: list[RTCPeerConnection] = []
    async with aiohttp.ClientSession() as http:
        seen: dict[object, list[dict]] = {}

        async def receive(ws, kind: str) -> dict:
            messages = seen.setdefault(ws, [])
            while True:
                for message in messages:
                    if message["type"] == kind:
                        return message
                message = await asyncio.wait_for(ws.receive_json(), 10)
                assert message["type"] != "error", message
                messages.append(message)

        async def join_and_publish(name: str, with_video: bool):
            ws = await http.ws_connect(ws_url)
            await ws.send_json(
                {
                    "type": "join",
                    "version": PROTOCOL_VERSION,
                    "room": "nat",
                    "token": token_for(ranged_server.config, "nat", name=name),
                }
            )
            await receive(ws, "joined")
            pc = RTCPeerConnection(config)
            pcs.append(pc)
            pc.createDataChannel("chat")
            if with_video:
                pc.addTransceiver(ColourVideoTrack((1, 2, 3)), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            tracks = [{"mid": t.mid, "source": "camera"} for t in pc.getTransceivers()]
            await ws.send_json({"type": "publish_offer", "sdp": pc.localDescription.sdp, "tracks": tracks})
            # The answer is looked at, never applied: no check goes to the public address.
            return ws, (await receive(ws, "publish_answer"))["sdp"]

        try:
            publisher, answer = await join_and_publish("Pub", with_video=True)
            subscriber, _ = await join_and_publish("Sub", with_video=False)
            offer = (await receive(subscriber, "subscribe_offer"))["sdp"]
            for sdp in (answer, offer):
                candidates = [line for line in sdp.splitlines() if line.startswith("a=candidate:")]
                assert candidates, sdp
                assert all(f" {PUBLIC} " in c and " typ host" in c for c in candidates), candidates
                assert "127.0.0.1" not in sdp, sdp
            # The socket itself stays bound to the local address.
            ports = sfu_socket_ports(ranged_server)
            assert ports
            for participant in ranged_server.app[conference_key].media._rooms["nat"].participants.values():
                pc = participant.publisher._pc
                ice = pc.sctp.transport.transport
                hosts = {
                    p.transport.get_extra_info("sockname")[0] for p in ice.iceGatherer._connection._protocols
                }
                assert hosts == {"127.0.0.1"}
            await publisher.close()
            await subscriber.close()
        finally:
            for pc in pcs:
                await pc.close()


def test_port_range_and_cli_options():
    assert PortRange.parse("50000-50199") == PortRange(50000, 50199)
    assert len(PortRange(50000, 50199)) == 200 and 50199 in PortRange(50000, 50199)
    for bad in ("50000", "9-5", "0-10", "1-70000", "a-b"):
        with pytest.raises(ValueError):
            PortRange.parse(bad)
    from signalling.cli import main

    for argv in (["--media-ports", "9-5"], ["--media-public-address", "example.com"]):
        with pytest.raises(SystemExit):
            main(["serve", *argv])
