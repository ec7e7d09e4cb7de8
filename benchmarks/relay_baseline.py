"""The baseline: aiortc's own fan-out, MediaRelay (decode once, encode per subscriber).

A standalone server in the pattern of aiortc's server examples, run as its own
process by ``benchmarks.forwarding``:

* ``POST /publish`` with ``{"sdp", "type"}``: the publisher's offer; its tracks
  become the room's sources (one publisher per server).
* ``POST /subscribe`` with a recvonly offer: each m-line gets
  ``MediaRelay().subscribe(source)``, so every subscriber's sender encodes its
  own copy of the decoded frames.
* ``GET /metrics``: RTP packets sent to subscribers and received from the
  publisher, Prometheus text format; ``GET /healthz``.

    python -m benchmarks.relay_baseline --port 8090
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

import aiortc.codecs.vpx
from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

import sfu.network

# Subscribers that only count packets send no REMB, so aiortc's encoders would
# stay at their 500 kbit/s default; encode at the publisher's 1 Mbit/s instead.
aiortc.codecs.vpx.DEFAULT_BITRATE = 1_000_000

logger = logging.getLogger(__name__)

sources_key = web.AppKey("sources", dict)
publishers_key = web.AppKey("publishers", list)
subscribers_key = web.AppKey("subscribers", list)
relay_key = web.AppKey("relay", MediaRelay)


def loopback_configuration() -> RTCConfiguration:
    # An explicit empty list: left as None, aiortc would use a public STUN server.
    return RTCConfiguration(iceServers=[])


async def _offer(request: web.Request) -> RTCSessionDescription:
    body = await request.json()
    if body.get("type") != "offer" or not isinstance(body.get("sdp"), str):
        raise web.HTTPBadRequest(text="expected {sdp, type: offer}")
    return RTCSessionDescription(sdp=body["sdp"], type="offer")


async def _answer(pc: RTCPeerConnection) -> web.Response:
    await pc.setLocalDescription(await pc.createAnswer())
    return web.json_response({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type})


async def publish(request: web.Request) -> web.Response:
    offer = await _offer(request)
    pc = RTCPeerConnection(loopback_configuration())
    request.app[publishers_key].append(pc)
    sources: dict[str, MediaStreamTrack] = request.app[sources_key]

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        sources[track.kind] = track

    await pc.setRemoteDescription(offer)
    return await _answer(pc)


async def subscribe(request: web.Request) -> web.Response:
    offer = await _offer(request)
    sources: dict[str, MediaStreamTrack] = request.app[sources_key]
    if not sources:
        raise web.HTTPConflict(text="nothing published yet")
    pc = RTCPeerConnection(loopback_configuration())
    request.app[subscribers_key].append(pc)
    await pc.setRemoteDescription(offer)
    relay = request.app[relay_key]
    for transceiver in pc.getTransceivers():
        source = sources.get(transceiver.kind)
        if source is not None:
            pc.addTrack(relay.subscribe(source))
    return await _answer(pc)


async def _packet_count(pcs: list[RTCPeerConnection], stats_type: str, field: str) -> int:
    total = 0
    for pc in pcs:
        for transceiver in pc.getTransceivers():
            endpoint = transceiver.sender if stats_type == "outbound-rtp" else transceiver.receiver
            report = await endpoint.getStats()
            total += sum(getattr(s, field) for s in report.values() if s.type == stats_type)
    return total


async def metrics(request: web.Request) -> web.Response:
    packets_out = await _packet_count(request.app[subscribers_key], "outbound-rtp", "packetsSent")
    packets_in = await _packet_count(request.app[publishers_key], "inbound-rtp", "packetsReceived")
    lines = [
        ("relay_subscribers", "gauge", len(request.app[subscribers_key])),
        ("relay_rtp_packets_in_total", "counter", packets_in),
        ("relay_rtp_packets_out_total", "counter", packets_out),
    ]
    text = "".join(f"# TYPE {name} {kind}\n{name} {value}\n" for name, kind, value in lines)
    return web.Response(text=text, content_type="text/plain")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_app() -> web.Application:
    app = web.Application()
    app[sources_key] = {}
    app[publishers_key] = []
    app[subscribers_key] = []
    app[relay_key] = MediaRelay()

    async def close_peers(app: web.Application):
        yield
        for pc in app[publishers_key] + app[subscribers_key]:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pc.close(), 5)

    app.cleanup_ctx.append(close_peers)
    app.router.add_post("/publish", publish)
    app.router.add_post("/subscribe", subscribe)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="aiortc MediaRelay server (benchmark baseline)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    # aioice leaves out 127.0.0.1 unless told; media stays on the address we serve on.
    sfu.network.use_host_addresses([args.host])
    web.run_app(build_app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
