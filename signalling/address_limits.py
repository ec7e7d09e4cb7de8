"""Limits per client address on what a client may do before it proves who it is.

Without a token a client can still open WebSockets and hold them until the join
timeout, or try token after token. So, per address: at most
``MAX_UNJOINED_PER_ADDRESS`` WebSockets that have not joined yet, and failed
authentications (a bad token on ``join``, on the admin API or on ``/metrics``)
drawn from a bucket refilled at ``AUTH_FAILURE_RATE``. Over either, a new
WebSocket or admin call from that address gets HTTP 429 ``too_many_requests``
before any work, and a socket that runs the bucket dry is closed.

Joined participants are not counted, so a whole office behind one NAT address
can join. Behind a proxy (``--behind-proxy``) the address is the last one the
proxy added to ``X-Forwarded-For``.
"""

from __future__ import annotations

import time
from collections import Counter

from aiohttp import web

from .limits import Clock, KeyedBuckets, Rate

MAX_UNJOINED_PER_ADDRESS = 100
AUTH_FAILURE_RATE = Rate(per_second=2, burst=30)


class AddressLimits:
    def __init__(self, behind_proxy: bool = False, clock: Clock = time.monotonic) -> None:
        self.behind_proxy = behind_proxy
        self._unjoined: Counter[str] = Counter()
        self._failures = KeyedBuckets(AUTH_FAILURE_RATE, clock)

    def address(self, request: web.Request) -> str:
        """Who sent ``request``: the peer, or behind a proxy the client the proxy saw."""
        if self.behind_proxy:
            forwarded = request.headers.get("X-Forwarded-For", "")
            last = forwarded.rsplit(",", 1)[-1].strip()
            if last:
                return last[:64]
        return request.remote or "unknown"

    def refusal(self, address: str, opening_socket: bool) -> str | None:
        """Why a request from ``address`` is refused now (None: it is not)."""
        if self._failures.exhausted(address):
            return "too many failed authentications from your address; wait a little"
        if opening_socket and self._unjoined[address] >= MAX_UNJOINED_PER_ADDRESS:
            return f"more than {MAX_UNJOINED_PER_ADDRESS} connections from your address have not joined"
        return None

    def socket_opened(self, address: str) -> None:
        self._unjoined[address] += 1

    def socket_joined_or_closed(self, address: str) -> None:
        self._unjoined[address] -= 1
        if self._unjoined[address] <= 0:
            del self._unjoined[address]

    def unjoined(self, address: str) -> int:
        return self._unjoined[address]

    def authentication_failed(self, address: str) -> bool:
        """Count a failure; False once the address has run out (refuse it from now on)."""
        return self._failures.take(address)


address_limits_key = web.AppKey("address_limits", AddressLimits)


def too_many_requests(message: str) -> web.Response:
    return web.json_response({"code": "too_many_requests", "message": message}, status=429)
