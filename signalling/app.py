"""The aiohttp application: static client, signalling WebSocket, health and metrics."""

from __future__ import annotations

import os
import resource
import secrets
from pathlib import Path

from aiohttp import web

import sfu.network

from .access_store import AccessStore
from .address_limits import AddressLimits, address_limits_key, auth_failure_rate
from .admin_api import add_admin_routes, authorize, error_response
from .chat_store import ChatStore
from .conference import Conference
from .config import Config
from .protocol import ProtocolError
from .security import host_guard, origin_guard, security_headers
from .session import websocket_handler
from .tokens import Grants, TokenError, mint_token
from .webhooks import add_webhooks

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

conference_key = web.AppKey("conference", Conference)
config_key = web.AppKey("config", Config)


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


async def dev_token(request: web.Request) -> web.Response:
    """Development only (loopback, no API keys): a token for the room the page asks for."""
    config = request.app[config_key]
    try:
        body = await request.json()
        room, name = body["room"], body.get("name")
        identity = body.get("identity") or "ID_" + secrets.token_hex(6)
        grants = Grants.from_claim(body["grants"]) if "grants" in body else Grants()
        if not all(isinstance(v, str) and 0 < len(v) <= 64 for v in (room, identity)):
            raise ValueError("room and identity are 1-64 characters")
    except (ValueError, KeyError, TypeError, AttributeError, TokenError) as exc:
        return web.json_response({"code": "invalid_request", "message": str(exc)[:200]}, status=400)
    key, secret = config.api_keys.first()
    token = mint_token(
        key, secret, identity, room, name=name if isinstance(name, str) else None, grants=grants
    )
    return web.json_response({"token": token, "identity": identity})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """Counters in Prometheus text format; a server admin token is needed unless
    this is a development server or ``--public-metrics`` says the network is private."""
    config = request.app[config_key]
    if not (config.dev_tokens or config.public_metrics):
        try:
            authorize(request, server_only=True)
        except ProtocolError as exc:
            return error_response(exc.code, exc.message)
    conference = request.app[conference_key]
    counters = conference.media.counters
    usage = resource.getrusage(resource.RUSAGE_SELF)
    lines = [
        ("huddle_rooms", "gauge", len(conference.rooms)),
        ("huddle_participants", "gauge", sum(len(r.peers) for r in conference.rooms.values())),
        ("huddle_rtp_packets_in_total", "counter", counters.packets_in),
        ("huddle_rtp_packets_out_total", "counter", counters.packets_out),
        ("huddle_rtp_payload_bytes_out_total", "counter", counters.bytes_out),
        ("huddle_rtp_retransmissions_total", "counter", counters.retransmissions),
        ("huddle_keyframe_requests_total", "counter", counters.keyframe_requests),
        ("process_cpu_seconds_total", "counter", usage.ru_utime + usage.ru_stime),
        ("process_resident_memory_bytes", "gauge", _rss_bytes()),
    ]
    text = "".join(f"# TYPE {name} {kind}\n{name} {value}\n" for name, kind, value in lines)
    return web.Response(text=text, content_type="text/plain")


def _rss_bytes() -> int:
    try:
        with open(f"/proc/{os.getpid()}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


async def revalidate_client_files(request: web.Request, response: web.StreamResponse) -> None:
    """Browsers must check the page and its modules on every load, so that after an
    upgrade no tab runs a mix of old and new modules."""
    path = request.path
    if path == "/" or path.startswith(("/r/", "/static/")):
        response.headers["Cache-Control"] = "no-cache"


def build_app(config: Config) -> web.Application:
    config.open_dev_door()
    sfu.network.use_host_addresses(config.effective_media_addresses())
    sfu.network.use_media_ports(config.media_ports)
    sfu.network.use_public_address(config.media_public_address)
    app = web.Application(middlewares=[host_guard(config), origin_guard(config)])
    app[config_key] = config
    app[address_limits_key] = AddressLimits(config.behind_proxy, auth_failure_rate(config.auth_failures))
    store = ChatStore(config.chat_db_path)
    access_store = AccessStore(config.access_db_path)
    conference = Conference(config, store, access_store)
    app[conference_key] = conference
    add_admin_routes(app, conference)
    add_webhooks(app, conference, config.webhook_urls)  # before lifecycle: stops after it

    async def lifecycle(app: web.Application):
        await store.open()
        await access_store.open()
        yield
        await conference.close()
        await access_store.close()
        await store.close()

    async def close_sessions(app: web.Application) -> None:
        # aiohttp waits for open handlers before cleanup; WebSocket handlers end only
        # when their socket closes, so close them first or shutdown stalls for ~30 s.
        conference.disconnect_all("server shutting down")

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(close_sessions)
    app.on_response_prepare.append(revalidate_client_files)
    app.on_response_prepare.append(security_headers(config))
    app.router.add_get("/", index)
    app.router.add_get("/r/{room}", index)  # a room link: the page reads the room from the path
    app.router.add_get("/ws", websocket_handler)
    if config.dev_tokens:
        app.router.add_post("/api/dev/token", dev_token)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_static("/static/", STATIC_DIR)
    return app
