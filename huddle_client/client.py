"""A Python participant: join a room, publish aiortc tracks, receive the others', chat.

    async with HuddleClient("http://127.0.0.1:8080", name="Bot") as client:
        await client.join("standup")
        await client.publish([(ColourVideoTrack((255, 0, 0)), "camera")])
        track = (await client.wait_for_tracks(1))[0]
        frame = await track.track.recv()
        await client.send_chat("hello")

Used by the tests, the benchmark tool and, later, room endpoints and bots. It
speaks the protocol in ``docs/protocol.md`` like the browser client does: the
client offers on its publisher connection, the server on the subscriber one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtp import RtpPacket

import sfu.network
from sfu import aiortc_hooks as hooks

from .e2ee import ChatSeal, Undecryptable
from .replay import EncodedClip, ReplaySender, add_replay_transceiver

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
CHAT_LABEL = "chat"


class HuddleError(Exception):
    """An ``error`` message from the server."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class RemoteTrack:
    """A track another participant publishes, as received by this client."""

    track_id: str
    participant_id: str
    kind: str
    source: str
    mid: str
    track: MediaStreamTrack
    receiver: RTCRtpReceiver
    ended: bool = False


PacketSink = Callable[[RemoteTrack, RtpPacket], None]


@dataclass
class Participant:
    participant_id: str
    name: str
    identity: str
    tracks: dict[str, dict[str, Any]] = field(default_factory=dict)


class HuddleClient:
    """One participant. ``packet_sink`` set: received RTP is counted, never decoded."""

    def __init__(
        self,
        url: str,
        name: str,
        identity: str | None = None,
        host_addresses: list[str] | None = None,
        packet_sink: PacketSink | None = None,
        timeout: float = 10.0,
        ice_transport_policy: str = "all",
        token: str | None = None,
        grants: dict[str, Any] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        e2ee: bool = False,
        chat_passphrase: str | None = None,
    ) -> None:
        base = url.rstrip("/")
        self.http_url = base
        # Without a token the client asks a development server (loopback, no API keys)
        # for one, with ``grants`` if given.
        self.token = token
        self._dev_grants = grants
        # Declares published media end-to-end encrypted (rooms that require it refuse
        # other media); the caller's tracks must then really carry encrypted frames.
        self.e2ee = e2ee
        # End-to-end encrypted chat (huddle_client/e2ee.py): our messages are sealed; sealed
        # ones we receive get the sender's sealed "name" and "text" (or "undecryptable":
        # True), and ones in the clear are marked "unsealed": True.
        self._chat_passphrase = chat_passphrase
        self._chat_seal: ChatSeal | None = None
        # For https/wss servers whose certificate the default trust store does not hold.
        self._ssl_context = ssl_context
        self.ws_url = base.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws"
        self.name = name
        self.identity = identity or "ID_" + uuid.uuid4().hex[:12]
        self.timeout = timeout
        # "relay": both peer connections use TURN relay candidates only (as a browser
        # with iceTransportPolicy "relay" does).
        self._ice_transport_policy = RTCIceTransportPolicy(ice_transport_policy)
        self.participant_id: str | None = None
        self.room: str | None = None
        self.participants: dict[str, Participant] = {}
        self.remote_tracks: dict[str, RemoteTrack] = {}
        self.published: dict[str, str] = {}  # mid -> track id
        self.chat_messages: list[dict[str, Any]] = []
        self.chat_history: list[dict[str, Any]] = []
        self.errors: list[HuddleError] = []
        self.in_lobby = False
        self.events: list[dict[str, Any]] = []
        self._packet_sink = packet_sink
        if host_addresses is not None:
            sfu.network.use_host_addresses(host_addresses)
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._publisher: RTCPeerConnection | None = None
        self._subscriber: RTCPeerConnection | None = None
        self._chat: RTCDataChannel | None = None
        self._ice_servers: list[RTCIceServer] = []
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self._chat_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Event()
        self._subscriber_lock = asyncio.Lock()
        self._client_ids = (f"{self.identity}-{n}" for n in itertools.count(1))
        self._replays: list[ReplaySender] = []

    async def __aenter__(self) -> HuddleClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- joining --------------------------------------------------------------

    async def join(self, room: str, lobby_timeout: float | None = None) -> dict[str, Any]:
        """Connect, join ``room`` and open the chat channel; returns the ``joined`` message.

        In a room with a lobby this waits (up to ``lobby_timeout``) until a room admin
        admits the client; ``in_lobby`` is True meanwhile.
        """
        if self._chat_passphrase is not None and (self._chat_seal is None or self._chat_seal.room != room):
            # before joining: events that follow "joined" must not wait for PBKDF2
            loop = asyncio.get_running_loop()
            self._chat_seal = await loop.run_in_executor(None, ChatSeal, self._chat_passphrase, room)
        connector = aiohttp.TCPConnector(ssl=self._ssl_context) if self._ssl_context else None
        self._http = aiohttp.ClientSession(connector=connector)
        if self.token is None:
            self.token = await self._dev_token(room)
        self._ws = await self._http.ws_connect(self.ws_url, timeout=aiohttp.ClientWSTimeout(ws_close=5))
        self._reader = asyncio.create_task(self._read_loop())
        joined = self._expect("joined")
        waiting = self._expect("lobby_waiting")
        await self.send(
            {
                "type": "join",
                "version": PROTOCOL_VERSION,
                "room": room,
                "name": self.name,
                "token": self.token,
            }
        )
        await asyncio.wait({joined, waiting}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED)
        if waiting.done() and not joined.done() and waiting.exception() is None:
            self.in_lobby = True
            message = await self._wait(joined, lobby_timeout)
            self.in_lobby = False
        else:
            if waiting.done():
                waiting.exception()  # the same error as joined's: retrieved here, raised there
            waiting.cancel()
            message = await self._wait(joined)
        self.room = room
        self.identity = message["identity"]
        self.name = message["name"]  # the token's name wins over ours
        self.participant_id = message["participant_id"]
        self.chat_history = [self._opened(m) for m in message["chat_history"]]
        for p in message["participants"]:
            self._add_participant(p)
        self._publisher = RTCPeerConnection(self._configuration())
        self._chat = self._publisher.createDataChannel(CHAT_LABEL)
        self._chat.on("message", self._on_chat_message)
        await self._negotiate_publisher({})
        await self._wait_for(lambda: self._chat is not None and self._chat.readyState == "open")
        return message

    async def _dev_token(self, room: str) -> str:
        assert self._http is not None
        body: dict[str, Any] = {"room": room, "name": self.name, "identity": self.identity}
        if self._dev_grants is not None:
            body["grants"] = self._dev_grants
        async with self._http.post(f"{self.http_url}/api/dev/token", json=body) as response:
            if response.status != 200:
                raise HuddleError("token_required", f"no token given and {self.http_url} hands out none")
            return (await response.json())["token"]

    def _configuration(self) -> RTCConfiguration:
        return RTCConfiguration(
            iceServers=list(self._ice_servers),
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
            iceTransportPolicy=self._ice_transport_policy,
        )

    # --- publishing -----------------------------------------------------------

    async def publish(self, tracks: list[tuple[MediaStreamTrack, str]]) -> dict[str, str]:
        """Publish aiortc tracks with their sources; returns mid -> track id."""
        assert self._publisher is not None, "join first"
        sources: dict[RTCRtpTransceiver, str] = {}
        for track, source in tracks:
            transceiver = self._publisher.addTransceiver(track, direction="sendonly")
            sources[transceiver] = source
        return await self._negotiate_publisher(sources)

    async def publish_clips(self, clips: list[tuple[EncodedClip, str]]) -> list[ReplaySender]:
        """Publish pre-encoded clips with their sources, replayed in real time without an encoder."""
        pc = self.publisher_connection
        transceivers = [add_replay_transceiver(pc, clip) for clip, _ in clips]
        await self._negotiate_publisher(
            {t: source for t, (_, source) in zip(transceivers, clips, strict=True)}
        )
        senders = [ReplaySender(t, clip) for t, (clip, _) in zip(transceivers, clips, strict=True)]
        for sender in senders:
            sender.start()
        self._replays += senders
        return senders

    async def publish_transceivers(self, sources: dict[RTCRtpTransceiver, str]) -> dict[str, str]:
        """Renegotiate after adding transceivers yourself (e.g. for replayed media)."""
        return await self._negotiate_publisher(sources)

    @property
    def publisher_connection(self) -> RTCPeerConnection:
        assert self._publisher is not None, "join first"
        return self._publisher

    async def _negotiate_publisher(self, sources: dict[RTCRtpTransceiver, str]) -> dict[str, str]:
        pc = self._publisher
        assert pc is not None
        await pc.setLocalDescription(await pc.createOffer())
        declared = [{"mid": t.mid, "source": s} for t, s in sources.items() if t.mid]
        answer = self._expect("publish_answer")
        offer: dict[str, Any] = {"type": "publish_offer", "sdp": pc.localDescription.sdp, "tracks": declared}
        if self.e2ee:
            offer["e2ee"] = True
        await self.send(offer)
        message = await self._wait(answer)
        await pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "answer"))
        self.published = {t["mid"]: t["track_id"] for t in message["tracks"]}
        return self.published

    async def unpublish(self, track_id: str) -> None:
        """Stop publishing one of this client's tracks (renegotiates)."""
        pc = self._publisher
        assert pc is not None, "join first"
        mid = next(m for m, t in self.published.items() if t == track_id)
        transceiver = next(t for t in pc.getTransceivers() if t.mid == mid)
        transceiver.direction = "inactive"
        if transceiver.sender.track is not None:
            transceiver.sender.track.stop()
        await self._negotiate_publisher({})

    async def admit(self, participant_id: str) -> None:
        """As a room admin: let someone waiting in the lobby in."""
        await self.send({"type": "lobby_admit", "participant_id": participant_id})

    async def reject(self, participant_id: str) -> None:
        """As a room admin: turn someone waiting in the lobby away."""
        await self.send({"type": "lobby_reject", "participant_id": participant_id})

    async def set_muted(self, track_id: str, muted: bool) -> None:
        await self.send({"type": "mute", "track_id": track_id, "muted": muted})

    # --- receiving --------------------------------------------------------------

    async def wait_for_tracks(self, count: int, timeout: float | None = None) -> list[RemoteTrack]:
        """Wait until at least ``count`` live remote tracks are present."""
        await self._wait_for(lambda: len(self.live_tracks()) >= count, timeout)
        return self.live_tracks()

    def live_tracks(self) -> list[RemoteTrack]:
        return [t for t in self.remote_tracks.values() if not t.ended]

    async def _on_subscribe_offer(self, message: dict[str, Any]) -> None:
        async with self._subscriber_lock:
            if self._subscriber is None:
                self._subscriber = RTCPeerConnection(self._configuration())
            pc = self._subscriber
            offered = {t["mid"]: t for t in message["tracks"]}
            await pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "offer"))
            hooks.route_retransmissions(pc)
            listed = {t["track_id"] for t in message["tracks"]}
            for transceiver in pc.getTransceivers():
                info = offered.get(transceiver.mid or "")
                if info is None or info["track_id"] in self.remote_tracks:
                    continue
                remote = RemoteTrack(
                    track_id=info["track_id"],
                    participant_id=info["participant_id"],
                    kind=info["kind"],
                    source=info["source"],
                    mid=transceiver.mid or "",
                    track=transceiver.receiver.track,
                    receiver=transceiver.receiver,
                )
                if self._packet_sink is not None:
                    hooks.divert_receiver(transceiver.receiver, _counting_handler(remote, self._packet_sink))
                self.remote_tracks[remote.track_id] = remote
            for remote in self.remote_tracks.values():
                if remote.track_id not in listed:
                    remote.ended = True
            await pc.setLocalDescription(await pc.createAnswer())
            await self.send({"type": "subscribe_answer", "sdp": pc.localDescription.sdp})
        self._changed.set()

    # --- chat -----------------------------------------------------------------

    async def send_chat(self, text: str, client_id: str | None = None) -> dict[str, Any]:
        """Send a chat message; returns the stored message once the server acknowledges it."""
        assert self._chat is not None, "join first"
        client_id = client_id or next(self._client_ids)
        future = self._chat_acks.get(client_id)
        if future is None or future.done():
            future = self._chat_acks[client_id] = asyncio.get_running_loop().create_future()
        payload = {"type": "chat", "client_id": client_id, "text": text}
        if self._chat_seal is not None:
            del payload["text"]
            payload["sealed"] = self._chat_seal.seal(self.identity, client_id, self.name, text)
        self._chat.send(json.dumps(payload))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        finally:
            if future.done():
                self._chat_acks.pop(client_id, None)

    def send_chat_raw(self, payload: str) -> None:
        """Put any text on the chat channel (for tests of the server's validation)."""
        assert self._chat is not None
        self._chat.send(payload)

    def _on_chat_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            logger.warning("undecodable chat payload")
            return
        kind = message.get("type")
        if kind == "chat":
            self.chat_messages.append(self._opened(message["message"]))
        elif kind == "chat_ack":
            stored = self._opened(message["message"])
            future = self._chat_acks.get(stored["client_id"])
            if future is not None and not future.done():
                future.set_result(stored)
        elif kind == "error":
            error = HuddleError(message.get("code", "error"), message.get("message", ""))
            self.errors.append(error)
            # An error naming a client_id concerns that message only.
            named = self._chat_acks.get(message.get("client_id", ""))
            for future in [named] if named is not None else list(self._chat_acks.values()):
                if not future.done():
                    future.set_exception(error)
        self._changed.set()

    def _opened(self, message: dict[str, Any]) -> dict[str, Any]:
        """A stored chat message with a sealed envelope opened into ``text`` when we can."""
        sealed = message.get("sealed")
        if self._chat_seal is None:
            return message
        if sealed is None:
            return {**message, "unsealed": True}
        try:
            opened = self._chat_seal.open(message["identity"], message["client_id"], sealed)
        except Undecryptable:
            return {**message, "undecryptable": True}
        return {**message, "name": opened.name, "text": opened.text}

    # --- leaving ----------------------------------------------------------------

    async def leave(self) -> None:
        """Leave politely: the server tells the others at once."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.send({"type": "leave"})
        await self.close()

    async def abort(self) -> None:
        """Cut the signalling TCP connection without a WebSocket close, as a crash would."""
        if self._ws is not None:
            connection = self._ws._response.connection
            if connection is not None and connection.transport is not None:
                connection.transport.abort()
        await self.close()

    async def close(self) -> None:
        """Drop everything without saying goodbye to the room."""
        for replay in self._replays:
            await replay.stop()
        self._replays.clear()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()
        for pc in (self._publisher, self._subscriber):
            if pc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pc.close(), timeout=5)
        self._publisher = self._subscriber = None

    # --- signalling plumbing ----------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_json(message)

    async def send_raw(self, payload: str) -> None:
        assert self._ws is not None
        await self._ws.send_str(payload)

    async def wait_for_event(
        self,
        kind: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """The first server message of ``kind`` (received before or after this call)."""

        def find() -> dict[str, Any] | None:
            for event in self.events:
                if event["type"] == kind and (predicate is None or predicate(event)):
                    return event
            return None

        await self._wait_for(lambda: find() is not None, timeout)
        found = find()
        assert found is not None
        return found

    def _expect(self, kind: str) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(kind, []).append(future)
        return future

    async def _wait(
        self, future: asyncio.Future[dict[str, Any]], timeout: float | None = None
    ) -> dict[str, Any]:
        return await asyncio.wait_for(future, timeout or self.timeout)

    async def _wait_for(self, condition: Callable[[], bool], timeout: float | None = None) -> None:
        async def poll() -> None:
            while not condition():
                self._changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

        await asyncio.wait_for(poll(), timeout or self.timeout)

    async def _read_loop(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            message = json.loads(msg.data)
            try:
                await self._handle(message)
            except Exception:
                logger.exception("client failed to handle %s", message.get("type"))
            self._changed.set()
        self._changed.set()

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        self.events.append(message)
        if kind == "error":
            error = HuddleError(message["code"], message["message"])
            self.errors.append(error)
            for futures in self._waiters.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(error)
            self._waiters.clear()
            return
        if kind == "token_refresh":
            self.token = message["token"]  # what a reconnect joins with: valid after the first expires
        if kind == "joined":
            # Here, not in join(): a subscribe_offer can follow "joined" before join()
            # resumes, and the subscriber connection it creates needs the TURN servers.
            self._ice_servers = [RTCIceServer(**_ice_server_args(s)) for s in message["ice_servers"]]
        for future in self._waiters.pop(kind, []):
            if not future.done():
                future.set_result(message)
        if kind == "subscribe_offer":
            await self._on_subscribe_offer(message)
        elif kind == "participant_joined":
            self._add_participant(message["participant"])
        elif kind == "participant_left":
            self.participants.pop(message["participant_id"], None)
        elif kind == "track_published":
            participant = self.participants.get(message["participant_id"])
            if participant is not None:
                participant.tracks[message["track"]["track_id"]] = message["track"]
        elif kind == "track_unpublished":
            participant = self.participants.get(message["participant_id"])
            if participant is not None:
                participant.tracks.pop(message["track_id"], None)
            remote = self.remote_tracks.get(message["track_id"])
            if remote is not None:
                remote.ended = True
        elif kind == "track_muted":
            participant = self.participants.get(message["participant_id"])
            if participant is not None and message["track_id"] in participant.tracks:
                participant.tracks[message["track_id"]]["muted"] = message["muted"]

    def _add_participant(self, data: dict[str, Any]) -> None:
        self.participants[data["participant_id"]] = Participant(
            participant_id=data["participant_id"],
            name=data["name"],
            identity=data["identity"],
            tracks={t["track_id"]: t for t in data["tracks"]},
        )


def _ice_server_args(server: dict[str, Any]) -> dict[str, Any]:
    return {k: server[k] for k in ("urls", "username", "credential") if k in server}


def _counting_handler(remote: RemoteTrack, sink: PacketSink) -> hooks.RtpHandler:
    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        sink(remote, packet)

    return handle
