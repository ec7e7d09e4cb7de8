"""A Huddle client for tests/test_udp_blocked.py, run inside a network namespace.

``python -m tests.udp_blocked_client join URL ROOM ADDRESS``: joins ``ROOM``
with host candidates on ``ADDRESS`` only, publishes a colour, receives one
video track, decodes frames for a while and prints one JSON line: how many
frames it decoded, their colour, and the nominated candidate pairs of both
its connections.

``python -m tests.udp_blocked_client probe-udp HOST PORT``: sends a STUN binding
request over UDP and prints ``{"answered": true|false}`` (within 1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from aioice import stun

from huddle_client import HuddleClient
from huddle_client.synthetic import ColourVideoTrack, dominant_colour

COLOUR = (230, 30, 200)  # magenta


def _pair(owner) -> dict:
    connection = owner.transport.transport._connection  # noqa: SLF001 (aioice internals)
    nominated = connection._nominated  # noqa: SLF001
    if not nominated:
        return {}
    pair = nominated[1]
    return {
        "local": pair.local_candidate.type,
        "remote": pair.remote_candidate.type,
        "turn_transport": connection.turn_transport,
    }


async def join(url: str, room: str, address: str, token: str, frames: int, timeout: float) -> dict:
    client = HuddleClient(url, name="Blocked", host_addresses=[address], timeout=timeout, token=token)
    result: dict = {}
    try:
        joined = await client.join(room)
        result["ice_servers"] = [s["urls"] for s in joined["ice_servers"]]
        await client.publish([(ColourVideoTrack(COLOUR), "camera")])
        (track,) = await client.wait_for_tracks(1, timeout=timeout)
        decoded = 0
        last = None
        deadline = time.monotonic() + timeout
        while decoded < frames and time.monotonic() < deadline:
            try:
                frame = await asyncio.wait_for(track.track.recv(), deadline - time.monotonic())
            except TimeoutError:
                break
            decoded += 1
            last = frame
        result["frames"] = decoded
        result["colour"] = list(dominant_colour(last)) if last is not None else None
        (sent,) = [t for t in client.publisher_connection.getTransceivers() if t.kind == "video"]
        result["publisher_pair"] = _pair(sent.sender)
        result["subscriber_pair"] = _pair(track.receiver)
    finally:
        await asyncio.wait_for(client.close(), 10)
    return result


async def probe_udp(host: str, port: int) -> dict:
    loop = asyncio.get_running_loop()
    answered = loop.create_future()

    class Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr) -> None:
            if not answered.done():
                answered.set_result(True)

        def error_received(self, exc: Exception) -> None:
            pass

    transport, _ = await loop.create_datagram_endpoint(Probe, remote_addr=(host, port))
    try:
        request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        try:
            transport.sendto(bytes(request))
            await asyncio.wait_for(answered, 1.0)
            return {"answered": True}
        except (TimeoutError, OSError):
            return {"answered": False}
    finally:
        transport.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    j = commands.add_parser("join")
    j.add_argument("url")
    j.add_argument("room")
    j.add_argument("address")
    j.add_argument("--token", required=True)
    j.add_argument("--frames", type=int, default=30)
    j.add_argument("--timeout", type=float, default=20.0)
    p = commands.add_parser("probe-udp")
    p.add_argument("host")
    p.add_argument("port", type=int)
    args = parser.parse_args()
    if args.command == "join":
        result = asyncio.run(join(args.url, args.room, args.address, args.token, args.frames, args.timeout))
    else:
        result = asyncio.run(probe_udp(args.host, args.port))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
