"""One client's signalling WebSocket: read, validate, dispatch; write through a queue.

Outgoing messages go through a bounded queue drained by one writer task, so a
client that reads slowly can delay only itself; if its queue fills it is
disconnected rather than holding up the room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import WSMsgType, web

from sfu import MediaError

from .address_limits import AddressLimits, address_limits_key, too_many_requests
from .conference import Conference, Peer
from .limits import SignallingLimiter, peek_field
from .protocol import ProtocolError, error_message, parse_client_message
from .tokens import TokenError

logger = logging.getLogger(__name__)

OUTGOING_QUEUE_LIMIT = 1000
WS_MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # larger frames close the socket (1009)


class Session:
    def __init__(
        self, ws: web.WebSocketResponse, conference: Conference, address: str, limits: AddressLimits
    ) -> None:
        self.ws = ws
        self.conference = conference
        self.address = address
        self._limits = limits  # this socket counts as unjoined for its address while peer is None
        self.peer: Peer | None = None
        self._outgoing: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(OUTGOING_QUEUE_LIMIT)
        self._closing: str | None = None
        self._limiter = SignallingLimiter()

    def send(self, message: dict[str, Any]) -> None:
        if self._closing is not None:
            return
        try:
            self._outgoing.put_nowait(message)
        except asyncio.QueueFull:
            self.disconnect("too many unread messages")

    def disconnect(self, reason: str) -> None:
        if self._closing is None:
            self._closing = reason
            with contextlib.suppress(asyncio.QueueFull):
                self._outgoing.put_nowait(None)

    async def run(self) -> None:
        writer = asyncio.create_task(self._write_loop())
        self._limits.socket_opened(self.address)
        try:
            await self._read_loop()
        finally:
            if self.peer is None:
                self._limits.socket_joined_or_closed(self.address)
            else:
                reason = "left" if self._closing == "left" else "disconnected"
                await self.conference.leave(self.peer, reason)
            self.disconnect("closed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(writer, timeout=2)
            writer.cancel()
            await self.ws.close()

    async def _read_loop(self) -> None:
        timeout = self.conference.config.join_timeout
        while self._closing is None:
            try:
                msg = await asyncio.wait_for(
                    self.ws.receive(), timeout=timeout if self.peer is None else None
                )
            except TimeoutError:
                self.send(error_message("join_timeout", f"no join within {timeout:g} s"))
                self.disconnect("join timeout")
                return
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return
            if msg.type == WSMsgType.ERROR:
                logger.info("websocket error: %s", self.ws.exception())
                return
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            if not self._limiter.allow():
                self._refuse_over_limit(msg.data)
                continue
            await self._handle(msg.data)

    def _refuse_over_limit(self, raw: str | bytes) -> None:
        """Drop a message over the rate limit; disconnect a client that keeps flooding."""
        if self._limiter.flooding:
            self.disconnect("rate limit exceeded")
            return
        request_id = peek_field(raw, "request_id")
        self.send(error_message("rate_limited", "too many messages; this one was dropped", request_id))

    async def _handle(self, raw: str | bytes) -> None:
        request_id = None
        try:
            message = parse_client_message(raw)
            request_id = message.get("request_id")
            await self._dispatch(message)
        except (ProtocolError, MediaError) as exc:
            self.send(error_message(exc.code, exc.message, request_id))
        except Exception:
            logger.exception("unexpected error handling a client message")
            self.send(error_message("internal_error", "the server failed to handle that message", request_id))

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "ping":
            pong: dict[str, Any] = {"type": "pong"}
            if "request_id" in message:
                pong["request_id"] = message["request_id"]
            self.send(pong)
            return
        if kind == "join":
            if self.peer is not None:
                raise ProtocolError("already_joined", "this connection has already joined a room")
            try:
                self.peer = await self.conference.join(
                    message["room"],
                    message["token"],
                    message.get("name"),
                    self.send,
                    self.disconnect,
                )
            except TokenError as exc:
                if not self._limits.authentication_failed(self.address):
                    self.send(error_message(exc.code, exc.message, message.get("request_id")))
                    self.disconnect("too many failed authentications")
                    return
                raise
            self._limits.socket_joined_or_closed(self.address)
            return
        peer = self.peer
        if peer is None:
            raise ProtocolError("not_joined", f"send join before {kind}")
        if kind == "leave":
            self.disconnect("left")
            return
        if not peer.admitted:
            raise ProtocolError("not_admitted", f"wait in the lobby until a room admin admits you ({kind})")
        if kind == "publish_offer":
            await self.conference.publish(
                peer, message["sdp"], message.get("tracks", []), message.get("e2ee", False)
            )
        elif kind == "subscribe_answer":
            await self.conference.answer_subscription(peer, message["sdp"])
        elif kind == "ice_candidate":
            await self.conference.add_ice_candidate(peer, message)
        elif kind == "mute":
            self.conference.set_muted(peer, message["track_id"], message["muted"])
        elif kind == "lobby_admit":
            await self.conference.admit(peer, message["participant_id"])
        elif kind == "lobby_reject":
            await self.conference.reject(peer, message["participant_id"])

    async def _write_loop(self) -> None:
        while True:
            message = await self._outgoing.get()
            if message is None or self.ws.closed:
                break
            try:
                await self.ws.send_json(message)
            except (ConnectionError, RuntimeError):
                break
        if self._closing not in (None, "left", "closed") and not self.ws.closed:
            await self.ws.close(code=4000, message=self._closing.encode()[:120])


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    from .app import conference_key

    limits = request.app[address_limits_key]
    address = limits.address(request)
    refusal = limits.socket_refusal(address)
    if refusal is not None:
        return too_many_requests(refusal)  # before the upgrade: no socket, no session
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=WS_MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    await Session(ws, request.app[conference_key], address, limits).run()
    return ws
