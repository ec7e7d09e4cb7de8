"""The admin API's OpenAPI 3.1 document, and the request-body schemas it is built from.

``REQUEST_BODIES`` is the one copy of each body schema: ``admin_api`` validates
requests against it and :func:`document` publishes it at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from .protocol import MAX_CHAT_TEXT
from .tokens import MEDIA_SOURCES

# Room for the longest valid body: 4000 characters of chat text, each escaped as \uXXXX.
MAX_BODY_BYTES = 64 * 1024

ROOM_ID = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_.-]+$"}
TRACK_ID = ROOM_ID
IDENTITY = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^/]+$"}

ROOM_OPTIONS = {
    "type": "object",
    "description": "Per-room settings; null means the server's default.",
    "properties": {
        "max_participants": {"type": ["integer", "null"], "minimum": 1, "maximum": 10000},
        "locked": {"type": "boolean", "description": "only room admins may join"},
        "lobby": {"type": "boolean", "description": "joiners wait until a room admin admits them"},
        "empty_timeout": {
            "type": ["number", "null"],
            "minimum": 0,
            "maximum": 86400,
            "description": "seconds an empty room lingers",
        },
        "e2ee_required": {"type": "boolean", "description": "media must be end-to-end encrypted"},
    },
    "additionalProperties": False,
}

GRANTS_CHANGES = {
    "type": "object",
    "description": "Grants to change, named as in a token's grants claim; the others stay.",
    "properties": {
        "join": {"type": "boolean", "description": "false removes the participant (as a kick)"},
        "publish": {
            "type": "array",
            "items": {"enum": list(MEDIA_SOURCES)},
            "uniqueItems": True,
            "maxItems": len(MEDIA_SOURCES),
        },
        "subscribe": {"type": "boolean"},
        "data": {"type": "boolean"},
        "admin": {"type": "boolean"},
        "hidden": {"type": "boolean"},
    },
    "additionalProperties": False,
}

REQUEST_BODIES: dict[str, dict[str, Any]] = {
    "CreateRoom": {
        "type": "object",
        "properties": {"room": ROOM_ID, "options": ROOM_OPTIONS},
        "required": ["room"],
        "additionalProperties": False,
    },
    "UpdateRoom": {
        "type": "object",
        "properties": {"options": ROOM_OPTIONS},
        "required": ["options"],
        "additionalProperties": False,
    },
    "UpdateParticipant": {
        "type": "object",
        "properties": {"grants": GRANTS_CHANGES},
        "required": ["grants"],
        "additionalProperties": False,
    },
    "MuteTrack": {
        "type": "object",
        "properties": {"muted": {"type": "boolean"}},
        "required": ["muted"],
        "additionalProperties": False,
    },
    "SystemMessage": {
        "type": "object",
        "properties": {"text": {"type": "string", "minLength": 1, "maxLength": MAX_CHAT_TEXT}},
        "required": ["text"],
        "additionalProperties": False,
    },
}

_GRANTS = {
    "type": "object",
    "properties": {
        "join": {"type": "boolean"},
        "publish": {"type": "array", "items": {"enum": list(MEDIA_SOURCES)}},
        "subscribe": {"type": "boolean"},
        "data": {"type": "boolean"},
        "admin": {"type": "boolean"},
        "hidden": {"type": "boolean"},
    },
    "required": ["join", "publish", "subscribe", "data", "admin", "hidden"],
}

_TRACK = {
    "type": "object",
    "properties": {
        "track_id": {"type": "string"},
        "kind": {"enum": ["audio", "video"]},
        "source": {"type": "string"},
        "codec": {"type": "string"},
        "muted": {"type": "boolean"},
    },
    "required": ["track_id", "kind", "source", "muted"],
}

RESPONSES: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        "required": ["code", "message"],
    },
    "Room": {
        "type": "object",
        "properties": {
            "room": {"type": "string"},
            "options": {**ROOM_OPTIONS, "required": list(ROOM_OPTIONS["properties"])},
            "participants": {"type": "integer", "minimum": 0, "description": "admitted participants"},
            "waiting": {"type": "integer", "minimum": 0, "description": "participants in the lobby"},
            "created_at": {"type": "number", "description": "Unix time"},
        },
        "required": ["room", "options", "participants", "waiting", "created_at"],
    },
    "Participant": {
        "type": "object",
        "properties": {
            "participant_id": {"type": "string"},
            "identity": {"type": "string"},
            "name": {"type": "string"},
            "tracks": {"type": "array", "items": _TRACK},
            "grants": _GRANTS,
            "state": {"enum": ["active", "waiting"]},
            "joined_at": {"type": "number"},
        },
        "required": ["participant_id", "identity", "name", "tracks", "grants", "state", "joined_at"],
    },
    "ChatMessage": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "room": {"type": "string"},
            "identity": {"type": "string", "description": "system for the server's messages"},
            "participant_id": {"type": "string"},
            "name": {"type": "string"},
            "client_id": {"type": "string"},
            "text": {"type": "string"},
            "ts": {"type": "number", "description": "Unix time"},
        },
        "required": ["id", "room", "identity", "participant_id", "name", "client_id", "text", "ts"],
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _json(_ref("Error"), "invalid_request: the body or a parameter failed validation"),
    "401": _json(
        _ref("Error"), "token_missing, token_invalid, token_expired, token_not_yet_valid, token_revoked"
    ),
    "403": _json(
        _ref("Error"),
        "permission_denied: not an admin token, or another room's; "
        "origin_not_allowed: a browser page of a foreign origin; "
        "host_not_allowed: addressed to a host name this server does not answer for",
    ),
    "413": _json(_ref("Error"), f"request_too_large: bodies are limited to {MAX_BODY_BYTES} bytes"),
    "429": _json(
        _ref("Error"), "too_many_requests: a failing token from an address with many failed authentications"
    ),
}
_NOT_FOUND = {"404": _json(_ref("Error"), "unknown_room, unknown_participant or unknown_track")}

_PARAMETERS = {
    "room": {"name": "room", "in": "path", "required": True, "schema": ROOM_ID},
    "identity": {"name": "identity", "in": "path", "required": True, "schema": IDENTITY},
    "track_id": {"name": "track_id", "in": "path", "required": True, "schema": TRACK_ID},
}


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    parameters: tuple[str, ...] = (),
    body: str | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": [_PARAMETERS[p] for p in parameters],
        "responses": {**responses, **_ERRORS, **(_NOT_FOUND if parameters else {})},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return operation


_NO_CONTENT = {"204": {"description": "done"}}
_ROOM = ("room",)
_PARTICIPANT = ("room", "identity")


def document() -> dict[str, Any]:
    """The OpenAPI document served at ``/api/v1/openapi.json``."""
    room_list = {"type": "object", "properties": {"rooms": {"type": "array", "items": _ref("Room")}}}
    participant_list = {
        "type": "object",
        "properties": {"participants": {"type": "array", "items": _ref("Participant")}},
    }
    paths = {
        "/api/v1/rooms": {
            "get": _operation("listRooms", "List rooms (server admin)", {"200": _json(room_list, "rooms")}),
            "post": _operation(
                "createRoom",
                "Create a room with options (server admin)",
                {
                    "201": _json(_ref("Room"), "created"),
                    "409": _json(_ref("Error"), "room_exists, too_many_rooms"),
                },
                body="CreateRoom",
            ),
        },
        "/api/v1/rooms/{room}": {
            "get": _operation("getRoom", "A room", {"200": _json(_ref("Room"), "the room")}, _ROOM),
            "patch": _operation(
                "updateRoom",
                "Change some of a room's options",
                {"200": _json(_ref("Room"), "the room")},
                _ROOM,
                body="UpdateRoom",
            ),
            "delete": _operation(
                "deleteRoom",
                "Close a room: everyone in it gets room_closed (server admin)",
                _NO_CONTENT,
                _ROOM,
            ),
        },
        "/api/v1/rooms/{room}/participants": {
            "get": _operation(
                "listParticipants",
                "Participants, admitted and waiting in the lobby",
                {"200": _json(participant_list, "participants")},
                _ROOM,
            ),
        },
        "/api/v1/rooms/{room}/participants/{identity}": {
            "get": _operation(
                "getParticipant", "A participant", {"200": _json(_ref("Participant"), "it")}, _PARTICIPANT
            ),
            "patch": _operation(
                "updateParticipant",
                "Change a participant's grants; what they no longer allow stops at once",
                {"200": _json(_ref("Participant"), "it, with its new grants")},
                _PARTICIPANT,
                body="UpdateParticipant",
            ),
            "delete": _operation(
                "removeParticipant",
                "Kick: the participant gets error kicked, and its token is refused until it expires",
                _NO_CONTENT,
                _PARTICIPANT,
            ),
        },
        "/api/v1/rooms/{room}/participants/{identity}/tracks/{track_id}/mute": {
            "post": _operation(
                "muteTrack",
                "Mute or unmute a participant's track (everyone gets track_muted with by_admin)",
                {"200": _json(_ref("Participant"), "the participant")},
                (*_PARTICIPANT, "track_id"),
                body="MuteTrack",
            ),
        },
        "/api/v1/rooms/{room}/messages": {
            "post": _operation(
                "sendSystemMessage",
                "Post a chat message from the server (stored in the room's history)",
                {"201": _json(_ref("ChatMessage"), "the stored message")},
                _ROOM,
                body="SystemMessage",
            ),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Huddle admin API",
            "version": "1",
            "description": "Rooms and participants of a Huddle server. Every call needs an admin "
            "access token: a server admin token (no room) may do everything, a room admin token "
            "only act on its own room.",
        },
        "paths": paths,
        "components": {
            "schemas": {**REQUEST_BODIES, **RESPONSES},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearer": []}],
    }
