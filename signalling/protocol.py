"""The signalling protocol: JSON messages over one WebSocket, version 1.

``docs/protocol.md`` shows an example of every message. The schemas below are
the truth the server checks each incoming message against; a message that
fails gets an ``error`` with a code and never reaches the rest of the server.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 256 * 1024  # a WebSocket message, SDP included (UTF-8 bytes)
MAX_SDP_BYTES = 224 * 1024  # about 400 m-lines of a browser's answer
SOURCES = ["camera", "microphone", "screen", "screen_audio"]


class ProtocolError(Exception):
    """A client message that cannot be served; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_NAME = {"type": "string", "minLength": 1, "maxLength": 64}
_ID = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_.-]+$"}
_SDP = {"type": "string", "minLength": 1, "maxLength": MAX_SDP_BYTES}


def _message(message_type: str, properties: dict[str, Any], required: list[str]) -> dict:
    return {
        "type": "object",
        "properties": {"type": {"const": message_type}, "request_id": _ID, **properties},
        "required": ["type", *required],
        "additionalProperties": False,
    }


CLIENT_MESSAGES: dict[str, dict] = {
    "join": _message(
        "join",
        {
            "version": {"const": PROTOCOL_VERSION},
            "room": _ID,
            "token": {"type": "string", "minLength": 1, "maxLength": 8192},
            "name": _NAME,
        },
        ["version", "room", "token"],
    ),
    "publish_offer": _message(
        "publish_offer",
        {
            "sdp": _SDP,
            "tracks": {
                "type": "array",
                "maxItems": 16,
                "items": {
                    "type": "object",
                    "properties": {
                        "mid": {"type": "string", "minLength": 1, "maxLength": 32},
                        "source": {"enum": SOURCES},
                        "muted": {"type": "boolean"},
                    },
                    "required": ["mid", "source"],
                    "additionalProperties": False,
                },
            },
            "e2ee": {"type": "boolean"},
        },
        ["sdp"],
    ),
    "subscribe_answer": _message("subscribe_answer", {"sdp": _SDP}, ["sdp"]),
    "ice_candidate": _message(
        "ice_candidate",
        {
            "target": {"enum": ["publisher", "subscriber"]},
            "candidate": {"type": "string", "maxLength": 1024},
            "sdp_mid": {"type": ["string", "null"], "maxLength": 32},
            "sdp_mline_index": {"type": ["integer", "null"], "minimum": 0, "maximum": 1024},
        },
        ["target", "candidate"],
    ),
    "mute": _message(
        "mute",
        {"track_id": _ID, "muted": {"type": "boolean"}},
        ["track_id", "muted"],
    ),
    "lobby_admit": _message("lobby_admit", {"participant_id": _ID}, ["participant_id"]),
    "lobby_reject": _message("lobby_reject", {"participant_id": _ID}, ["participant_id"]),
    "leave": _message("leave", {}, []),
    "ping": _message("ping", {}, []),
}

_VALIDATORS = {name: Draft202012Validator(schema) for name, schema in CLIENT_MESSAGES.items()}


def parse_client_message(raw: str | bytes) -> dict[str, Any]:
    """Decode and validate one client message, or raise :class:`ProtocolError`."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", errors="replace"))
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError("message_too_large", f"messages are limited to {MAX_MESSAGE_BYTES} bytes")
    message = _load_json(raw)
    if not isinstance(message, dict):
        raise ProtocolError("invalid_message", "a message must be a JSON object")
    message_type = message.get("type")
    if not isinstance(message_type, str):
        raise ProtocolError("invalid_message", "a message needs a string 'type'")
    validator = _VALIDATORS.get(message_type)
    if validator is None:
        raise ProtocolError("unknown_type", f"unknown message type {message_type[:64]!r}")
    error = next(iter(validator.iter_errors(message)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "message"
        raise ProtocolError("invalid_message", f"{message_type}: {where}: {error.message[:200]}")
    return message


def _load_json(raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except RecursionError as exc:  # "[[[[…" deeper than the decoder's recursion limit
        raise ProtocolError("invalid_json", "JSON nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("invalid_json", f"not valid JSON: {exc}") from exc


def error_message(code: str, message: str, request_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if request_id is not None:
        out["request_id"] = request_id
    return out


# --- chat on the data channel -------------------------------------------------

MAX_CHAT_TEXT = 4000  # characters
MAX_CHAT_PAYLOAD_BYTES = 16 * 1024
# An end-to-end encrypted message (docs/e2ee.md): unpadded base64url of a 12-byte IV and
# the AES-GCM ciphertext with its 16-byte tag; room for 4000 characters of UTF-8 text.
MIN_SEALED_CHAT = 39  # 29 bytes: IV, tag and at least one byte of text
MAX_SEALED_CHAT = 16_100

CHAT_SEND_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"const": "chat"},
        "client_id": _ID,
        "text": {"type": "string", "minLength": 1},
        "sealed": {"type": "string", "pattern": "^[A-Za-z0-9_-]*$", "minLength": MIN_SEALED_CHAT},
    },
    "required": ["type", "client_id"],
    "additionalProperties": False,
}
_CHAT_VALIDATOR = Draft202012Validator(CHAT_SEND_SCHEMA)


def parse_chat_message(raw: str) -> dict[str, Any]:
    """Decode and validate a chat message a client sent on its data channel."""
    if len(raw.encode("utf-8", errors="replace")) > MAX_CHAT_PAYLOAD_BYTES:
        raise ProtocolError(
            "message_too_large", f"chat messages are limited to {MAX_CHAT_PAYLOAD_BYTES} bytes"
        )
    message = _load_json(raw)
    error = next(iter(_CHAT_VALIDATOR.iter_errors(message)), None)
    if error is not None:
        raise ProtocolError("invalid_message", f"chat: {error.message[:200]}")
    if ("text" in message) == ("sealed" in message):
        raise ProtocolError("invalid_message", "chat: a message has either text or sealed, not both")
    if len(message.get("text", "")) > MAX_CHAT_TEXT:
        raise ProtocolError("message_too_large", f"chat text is limited to {MAX_CHAT_TEXT} characters")
    if len(message.get("sealed", "")) > MAX_SEALED_CHAT:
        raise ProtocolError("message_too_large", f"sealed chat is limited to {MAX_SEALED_CHAT} characters")
    return message
