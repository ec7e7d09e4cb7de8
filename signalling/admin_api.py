"""The admin REST API under ``/api/v1/``: rooms and participants, for operators' backends.

Every call carries ``Authorization: Bearer <admin access token>``. A server admin
token (no room claim) may do everything; a room admin token only act on its own
room, and may not create, list or delete rooms. The work itself is
:class:`Moderation`'s; this module authenticates, validates bodies against the
schemas in :mod:`signalling.openapi` and turns refusals into JSON errors.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator, ValidationError, validators

from .address_limits import address_limits_key
from .conference import Conference
from .moderation import Moderation
from .openapi import MAX_BODY_BYTES, REQUEST_BODIES, document
from .protocol import ProtocolError
from .rooms import RoomOptions
from .tokens import AccessToken, TokenError

logger = logging.getLogger(__name__)

PREFIX = "/api/v1"
moderation_key = web.AppKey("moderation", Moderation)

STATUS_OF = {
    "invalid_request": 400,
    "token_missing": 401,
    "token_invalid": 401,
    "token_expired": 401,
    "token_not_yet_valid": 401,
    "token_revoked": 401,
    "permission_denied": 403,
    "unknown_room": 404,
    "unknown_participant": 404,
    "unknown_track": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "room_exists": 409,
    "too_many_rooms": 409,
    "request_too_large": 413,
    "too_many_requests": 429,
}


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: dict) -> Any:
    """``pattern`` as JSON Schema means it: ``$`` is the end of the string (in Python's
    ``re`` it also matches before a final newline, which would let "room\\n" through)."""
    if not validator.is_type(instance, "string"):
        return
    match = re.search(pattern, instance)
    if match is None or (pattern.endswith("$") and match.end() != len(instance)):
        yield ValidationError(f"{instance[:64]!r} does not match {pattern!r}")


_Validator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})
_VALIDATORS = {name: _Validator(schema) for name, schema in REQUEST_BODIES.items()}


def error_response(code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    status = STATUS_OF.get(code, 400)
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": f'Bearer error="{code}"'}
    return web.json_response({"code": code, "message": message}, status=status, headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """Under /api/v1/, every refusal is JSON {code, message}, aiohttp's own 404/405/413 too."""
    if not request.path.startswith(PREFIX + "/"):
        return await handler(request)
    try:
        return await handler(request)
    except ProtocolError as exc:
        return error_response(exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(exc.status)
        if code is None:
            raise
        kept = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(code, exc.reason.lower(), kept)


def authorize(request: web.Request, server_only: bool) -> AccessToken:
    """The bearer token's access, if it is an admin token good for this request."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ProtocolError("token_missing", "send Authorization: Bearer <admin access token>")
    try:
        if len(token) > 8192:
            raise TokenError("token_invalid", "the token is too long")
        access = request.app[moderation_key].conference.access.verify(token)
    except TokenError as exc:
        limits = request.app[address_limits_key]
        if not limits.authentication_failed(limits.address(request)):
            raise ProtocolError(
                "too_many_requests", "too many failed authentications from your address; wait a little"
            ) from exc
        raise ProtocolError(exc.code, exc.message) from exc
    if not access.grants.admin:
        raise ProtocolError("permission_denied", "this token has no admin grant")
    if access.room is not None:
        if server_only:
            raise ProtocolError("permission_denied", "only a server admin token (no room) may do this")
        if access.room != request.match_info.get("room"):
            raise ProtocolError("permission_denied", f"this token administers room {access.room} only")
    return access


async def _body(request: web.Request, schema_name: str) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ProtocolError("request_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    raw = await request.read()  # aiohttp itself stops at client_max_size (413)
    if len(raw) > MAX_BODY_BYTES:
        raise ProtocolError("request_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(raw)
        error = next(iter(_VALIDATORS[schema_name].iter_errors(data)), None)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("invalid_request", "the body is not valid JSON") from exc
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "body"
        raise ProtocolError("invalid_request", f"{where}: {error.message[:200]}")
    return data


Handler = Callable[[web.Request, Moderation, dict[str, Any]], Awaitable[web.StreamResponse]]


def _endpoint(handler: Handler, server_only: bool = False, body: str | None = None):
    async def serve(request: web.Request) -> web.StreamResponse:
        authorize(request, server_only)
        data = await _body(request, body) if body is not None else {}
        return await handler(request, request.app[moderation_key], data)

    return serve


def _no_content() -> web.Response:
    return web.Response(status=204)


# --- rooms --------------------------------------------------------------------


async def create_room(request: web.Request, moderation: Moderation, body: dict[str, Any]) -> web.Response:
    room = moderation.create_room(body["room"], RoomOptions(**body.get("options", {})))
    return web.json_response(room.to_json(), status=201)


async def list_rooms(request: web.Request, moderation: Moderation, body: dict[str, Any]) -> web.Response:
    return web.json_response({"rooms": [room.to_json() for room in moderation.list_rooms()]})


async def get_room(request: web.Request, moderation: Moderation, body: dict[str, Any]) -> web.Response:
    return web.json_response(moderation.room(request.match_info["room"]).to_json())


async def update_room(request: web.Request, moderation: Moderation, body: dict[str, Any]) -> web.Response:
    room = await moderation.update_room(request.match_info["room"], body["options"])
    return web.json_response(room.to_json())


async def delete_room(request: web.Request, moderation: Moderation, body: dict[str, Any]) -> web.Response:
    await moderation.delete_room(request.match_info["room"])
    return _no_content()


# --- participants ---------------------------------------------------------------


async def list_participants(
    request: web.Request, moderation: Moderation, body: dict[str, Any]
) -> web.Response:
    peers = moderation.participants(request.match_info["room"])
    return web.json_response({"participants": [p.to_admin_json() for p in peers]})


async def get_participant(request: web.Request, moderation: Moderation, body: dict[str, Any]) -> web.Response:
    peer = moderation.participant(request.match_info["room"], request.match_info["identity"])
    return web.json_response(peer.to_admin_json())


async def update_participant(
    request: web.Request, moderation: Moderation, body: dict[str, Any]
) -> web.Response:
    info = request.match_info
    peer = await moderation.update_grants(info["room"], info["identity"], body["grants"])
    return web.json_response(peer.to_admin_json())


async def remove_participant(
    request: web.Request, moderation: Moderation, body: dict[str, Any]
) -> web.Response:
    await moderation.kick(request.match_info["room"], request.match_info["identity"])
    return _no_content()


async def mute_track(request: web.Request, moderation: Moderation, body: dict[str, Any]) -> web.Response:
    info = request.match_info
    moderation.mute_track(info["room"], info["identity"], info["track_id"], body["muted"])
    return web.json_response(moderation.participant(info["room"], info["identity"]).to_admin_json())


async def send_message(request: web.Request, moderation: Moderation, body: dict[str, Any]) -> web.Response:
    stored = await moderation.post_system_message(request.match_info["room"], body["text"])
    return web.json_response(stored, status=201)


def add_admin_routes(app: web.Application, conference: Conference) -> None:
    """Serve the admin API and its OpenAPI document on ``app``."""
    app[moderation_key] = Moderation(conference)
    app.middlewares.append(json_errors)
    openapi_text = json.dumps(document())

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(text=openapi_text, content_type="application/json")

    room, participant = f"{PREFIX}/rooms/{{room}}", f"{PREFIX}/rooms/{{room}}/participants/{{identity}}"
    app.router.add_get(f"{PREFIX}/openapi.json", openapi)
    app.router.add_get(f"{PREFIX}/rooms", _endpoint(list_rooms, server_only=True))
    app.router.add_post(f"{PREFIX}/rooms", _endpoint(create_room, server_only=True, body="CreateRoom"))
    app.router.add_get(room, _endpoint(get_room))
    app.router.add_patch(room, _endpoint(update_room, body="UpdateRoom"))
    app.router.add_delete(room, _endpoint(delete_room, server_only=True))
    app.router.add_get(f"{room}/participants", _endpoint(list_participants))
    app.router.add_get(participant, _endpoint(get_participant))
    app.router.add_patch(participant, _endpoint(update_participant, body="UpdateParticipant"))
    app.router.add_delete(participant, _endpoint(remove_participant))
    app.router.add_post(f"{participant}/tracks/{{track_id}}/mute", _endpoint(mute_track, body="MuteTrack"))
    app.router.add_post(f"{room}/messages", _endpoint(send_message, body="SystemMessage"))
