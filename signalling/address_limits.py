"""Limits per client address on what a client may do before it proves who it is.

Without a token a client can still open WebSockets and hold them until the join
timeout, or try token after token. So, per address: at most
``MAX_UNJOINED_PER_ADDRESS`` WebSockets that have not joined yet (more get HTTP
429 ``too_many_requests`` before the upgrade), and failed authentications (a bad
token on ``join``, on the admin API or on ``/metrics``) drawn from a bucket of
``--auth-failures`` (30) refilled over 15 s. Once that bucket is dry, a failing token gets
429 instead of 401 and a failing ``join`` closes its socket; a valid token still
works, so one guesser behind an office's NAT address does not lock out the others.

Joined participants are not counted, so a whole office behind one NAT address
can join. IPv6 clients are counted by /64, the block one host usually holds.
Behind a proxy (``--behind-proxy``) the address is the last one the proxy added
to ``X-Forwarded-For``.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter

from aiohttp import web

from .limits import Clock, KeyedBuckets, Rate

MAX_UNJOINED_PER_ADDRESS = 100
AUTH_FAILURE_REFILL_SECONDS = 15.0  # an empty failure budget is full again after this


def auth_failure_rate(burst: int) -> Rate:
    """``--auth-failures``: a burst of ``burst`` failures, refilled over 15 s (30: 2/s)."""
    return Rate(per_second=burst / AUTH_FAILURE_REFILL_SECONDS, burst=burst)


AUTH_FAILURE_RATE = auth_failure_rate(30)


class AddressLimits:
    def __init__(
        self,
        behind_proxy: bool = False,
        failure_rate: Rate = AUTH_FAILURE_RATE,
        clock: Clock = time.monotonic,
    ) -> None:
        self.behind_proxy = behind_proxy
        self._unjoined: Counter[str] = Counter()
        self._failures = KeyedBuckets(failure_rate, clock)

    def address(self, request: web.Request) -> str:
        """Who sent ``request`` (an IPv4 address or an IPv6 /64): the peer, or behind a
        proxy the client the proxy saw."""
        remote = request.remote or "unknown"
        if self.behind_proxy:
            # every X-Forwarded-For line, joined: a proxy may add its own line after the client's
            forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
            remote = forwarded.rsplit(",", 1)[-1].strip()[:64] or remote
        return client_key(remote)

    def socket_refusal(self, address: str) -> str | None:
        """Why a new WebSocket from ``address`` is refused now (None: it is not)."""
        if self._unjoined[address] >= MAX_UNJOINED_PER_ADDRESS:
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
        """Count a failure; False once the address has run out (answer it 429, close its socket)."""
        return self._failures.take(address)


def client_key(address: str) -> str:
    """The address limits count by: an IPv4 address, or an IPv6 address's /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


address_limits_key = web.AppKey("address_limits", AddressLimits)


def too_many_requests(message: str) -> web.Response:
    return web.json_response({"code": "too_many_requests", "message": message}, status=429)
