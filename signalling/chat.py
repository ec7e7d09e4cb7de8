"""Chat: validate what arrives on a participant's data channel, store it, fan it out.

The sender gets a ``chat_ack`` carrying the stored message (its server id and
time) only once the message is committed; everyone else in the room gets it as
``chat``. A resend with a client id already stored is acknowledged again with
the first copy and not shown twice.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sfu import MediaServer

from .chat_store import ChatMessage, ChatStore
from .limits import CHAT_ERROR_RATE, CHAT_RATE, KeyedBuckets, peek_field
from .protocol import ProtocolError, parse_chat_message

if TYPE_CHECKING:
    from .conference import Peer


SYSTEM_IDENTITY = "system"


class ChatService:
    def __init__(
        self,
        store: ChatStore,
        media: MediaServer,
        participants_of: Callable[[str], list[str]],
        requires_e2ee: Callable[[str], bool],
    ) -> None:
        self._store = store
        self._media = media
        self._participants_of = participants_of
        self._requires_e2ee = requires_e2ee
        self._rate = KeyedBuckets(CHAT_RATE)
        self._rate_errors = KeyedBuckets(CHAT_ERROR_RATE)

    async def receive(self, peer: Peer, payload: str) -> None:
        if not self._rate.take(peer.participant_id):
            self._refuse_over_limit(peer, payload)
            return
        try:
            if not peer.grants.data:
                raise ProtocolError("permission_denied", "your token does not allow chat")
            message = parse_chat_message(payload)
            if "text" in message and self._requires_e2ee(peer.room_id):
                raise ProtocolError("e2ee_required", "this room requires end-to-end encrypted chat (sealed)")
        except ProtocolError as exc:
            self._send(peer, [peer.participant_id], error_payload(exc, payload))
            return
        stored, created = await self._store.append(
            peer.room_id,
            peer.identity,
            peer.participant_id,
            peer.name,
            message["client_id"],
            message.get("text", ""),
            message.get("sealed"),
        )
        self._send(peer, [peer.participant_id], {"type": "chat_ack", "message": stored.to_json()})
        if created:
            others = [p for p in self._participants_of(peer.room_id) if p != peer.participant_id]
            self._send(peer, others, {"type": "chat", "message": stored.to_json()})

    async def post_system(self, room_id: str, text: str) -> ChatMessage:
        """Store and send a message from the server itself (identity ``system``)."""
        stored, _ = await self._store.append(
            room_id, SYSTEM_IDENTITY, SYSTEM_IDENTITY, "Huddle", "sys-" + secrets.token_hex(8), text
        )
        payload = json.dumps({"type": "chat", "message": stored.to_json()})
        self._media.send_data(room_id, self._participants_of(room_id), payload)
        return stored

    def _refuse_over_limit(self, peer: Peer, payload: str) -> None:
        """Drop the message unstored; tell the sender, unless even the errors would be a flood."""
        if self._rate_errors.take(peer.participant_id):
            error = error_payload(ProtocolError("rate_limited", "too many chat messages; not sent"), payload)
            self._send(peer, [peer.participant_id], error)

    def _send(self, peer: Peer, participant_ids: list[str], message: dict[str, Any]) -> None:
        self._media.send_data(peer.room_id, participant_ids, json.dumps(message))


def error_payload(exc: ProtocolError, payload: str) -> dict[str, Any]:
    """The error for a refused chat payload, naming its ``client_id`` when one can be read."""
    error: dict[str, Any] = {"type": "error", "code": exc.code, "message": exc.message}
    client_id = peek_field(payload, "client_id")
    if client_id is not None:
        error["client_id"] = client_id
    return error
