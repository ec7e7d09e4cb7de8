"""HTTP hardening: security headers on every response, and Host and Origin checks for browsers.

The Origin check stops another web site from using a visitor's browser against
Huddle: opening the signalling WebSocket (browsers do not apply the same-origin
policy to WebSockets) or posting to the APIs. Clients that send no Origin header
(the Python client, curl, server-to-server calls) are not browsers and pass.

The Host check stops DNS rebinding, where a foreign page points its own name at
Huddle's address and so becomes "same origin": the request then names the
foreign host. A development server (its token door open) answers only requests
addressed to a loopback name; ``--allowed-host`` names the hosts of a deployment.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .config import Config

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HSTS = "max-age=31536000"
# Methods that change state: a browser on a foreign page must not send them with our cookies/network.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# What may appear in a Host header we echo into the CSP (host name, IPv4, [IPv6], port).
_HOST_RE = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")

STATIC_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(self), display-capture=(self)",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def content_security_policy(host: str | None, secure: bool) -> str:
    """Only Huddle's own origin; WebSocket connections to the same host (wss, and ws without TLS)."""
    sockets = ""
    if host is not None and _HOST_RE.match(host):
        sockets = f" wss://{host}" if secure else f" ws://{host} wss://{host}"
    return (
        "default-src 'self'; script-src 'self'; "
        f"connect-src 'self'{sockets}; "
        "img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; worker-src 'self' blob:"
    )


def security_headers(config: Config) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """An ``on_response_prepare`` hook adding the headers to every response (errors and files too)."""

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        secure = request.secure or config.behind_proxy and _forwarded_https(request)
        response.headers.update(STATIC_HEADERS)
        response.headers["Content-Security-Policy"] = content_security_policy(request.host, secure)
        if request.secure:
            response.headers["Strict-Transport-Security"] = HSTS

    return add_headers


def _forwarded_https(request: web.Request) -> bool:
    return request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def origin_allowed(origin: str, request: web.Request, config: Config) -> bool:
    """Same scheme, host and port as the Host header says, or listed in ``--allowed-origin``."""
    parsed = _origin_tuple(origin)
    if parsed is None:
        return False
    if parsed in {_origin_tuple(o) for o in config.allowed_origins}:
        return True
    schemes = {request.scheme}
    if config.behind_proxy:  # the TLS proxy talks plain HTTP to us; the browser saw https
        schemes.add("https")
    return any(parsed == _origin_tuple(f"{scheme}://{request.host}") for scheme in schemes)


def _origin_tuple(origin: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(origin.strip())
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if scheme not in ("http", "https") or not host or port is None:
        return None
    return scheme, host, port


def origin_guard(config: Config) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Middleware: 403 before the handler (and before any WebSocket upgrade) for a foreign Origin."""

    @web.middleware
    async def check_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        guarded = request.path == "/ws" or request.method in UNSAFE_METHODS
        if guarded and origin is not None and not origin_allowed(origin, request, config):
            return web.json_response(
                {"code": "origin_not_allowed", "message": f"requests from {origin[:100]!r} are not allowed"},
                status=403,
            )
        return await handler(request)

    return check_origin


def host_name(host: str) -> str | None:
    """The lower-case name or address in a Host header ("[::1]:8080" -> "::1"), None if malformed."""
    if not _HOST_RE.match(host):
        return None
    try:
        return urlsplit(f"//{host}").hostname
    except ValueError:
        return None


def is_loopback_name(name: str) -> bool:
    """localhost, *.localhost (RFC 6761: never resolved by DNS) or a loopback address."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_allowed(host: str, config: Config) -> bool:
    """Whether a request addressed to ``host`` (a Host header) may be answered.

    A loopback name always may: a rebinding page cannot make the browser send one.
    """
    name = host_name(host)
    if name is None:
        return False
    if is_loopback_name(name):
        return True
    if config.allowed_hosts:
        return name in config.allowed_hosts
    return not config.dev_tokens


def host_guard(config: Config) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Middleware: 403 for a request addressed to a host this server does not answer for."""

    @web.middleware
    async def check_host(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host")
        if host is not None and not host_allowed(host, config):  # no Host: HTTP/1.0, not a browser
            hint = "a name given with --allowed-host" if config.allowed_hosts else "localhost or 127.0.0.1"
            return web.json_response(
                {
                    "code": "host_not_allowed",
                    "message": f"this server does not answer for host {host[:100]!r}; open it via {hint}",
                },
                status=403,
            )
        return await handler(request)

    return check_host


class RedactingAccessLogger(AbstractAccessLogger):
    """aiohttp's access log line without the query string, where a pasted link could carry a token.

    Headers (``Authorization`` included) are never logged.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        query = "?[redacted]" if request.query_string else ""
        self.logger.info(
            '%s "%s %s%s HTTP/%d.%d" %d %d %.3fs',
            request.remote,
            request.method,
            request.path,
            query,
            request.version.major,
            request.version.minor,
            response.status,
            response.body_length,
            time,
        )
