"""Where the SFU's ICE agents bind and what they announce.

aioice gathers on every interface except 127.0.0.1. A server must name its own:
a loopback-only test, a LAN box with several NICs, a container. This is a
process-wide setting because aioice reads it from a module-level function.

Below that: a UDP port range for the SFU's media sockets and a public address
announced in its candidates (1:1 NAT), applied only to the SFU's own
connections (see the comment before ``PortRange``).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import aioice
import aioice.ice
import aioice.turn

logger = logging.getLogger(__name__)

_discover_host_addresses = aioice.ice.get_host_addresses


def use_host_addresses(addresses: list[str] | None) -> None:
    """Gather host candidates on exactly ``addresses``; ``None`` restores discovery."""
    if addresses is None:
        aioice.ice.get_host_addresses = _discover_host_addresses
        return
    fixed = list(addresses)

    def configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in fixed if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = configured


# --- media ports and the announced address ------------------------------------
#
# aioice binds each host candidate's socket with
# ``loop.create_datagram_endpoint(local_addr=(address, 0))`` inside
# ``Connection.get_component_candidates``: a random port per connection, and the
# candidate announces the bound address. Behind a firewall the ports must come
# from a range a rule can name, and behind 1:1 NAT (cloud VMs, Docker) the SDP
# must carry the public address while the socket stays bound to the local one.
#
# Huddle replaces ``get_component_candidates`` with a version that does the same
# host-candidate step with a socket it binds itself, inside the range, and puts
# the public address in the candidate it returns for the SDP, while the STUN
# protocol's own ``local_candidate`` (what aioice pairs and checks with) keeps
# the local address. It only acts while the SFU gathers (``sfu_gathering()``,
# a context variable): other peer connections in the process, such as the
# Python test clients, gather as aioice always did. The SFU's connections have
# no STUN/TURN server (``negotiation.server_configuration``); should one ever
# have, the original method runs and the settings are not applied.


@dataclass(frozen=True)
class PortRange:
    low: int
    high: int

    def __post_init__(self) -> None:
        if not 1 <= self.low <= self.high <= 65535:
            raise ValueError(f"bad port range {self.low}-{self.high}")

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """``"LOW-HIGH"``, both inclusive."""
        low, sep, high = text.partition("-")
        if not sep:
            raise ValueError(f"port range {text!r} is not LOW-HIGH")
        return cls(int(low), int(high))

    def __len__(self) -> int:
        return self.high - self.low + 1

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.low <= port <= self.high

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"


class MediaPortsExhausted(OSError):
    """Every port of the media range is taken on the address(es) to bind."""


@dataclass
class _MediaSockets:
    ports: PortRange | None = None
    public_address: str | None = None
    next_port: int = 0  # offset into ``ports`` where the next search starts


_settings = _MediaSockets()
_sfu_gathering: ContextVar[bool] = ContextVar("huddle_sfu_gathering", default=False)
_aioice_get_component_candidates = aioice.ice.Connection.get_component_candidates


def use_media_ports(ports: PortRange | None) -> None:
    """Bind the SFU's host candidates inside ``ports``; ``None``: any port."""
    _settings.ports = ports
    _settings.next_port = 0


def use_public_address(address: str | None) -> None:
    """Announce ``address`` in the SFU's host candidates instead of the bound one."""
    if address is not None:
        ipaddress.ip_address(address)  # ValueError on anything but a literal IP
    _settings.public_address = address


@contextmanager
def sfu_gathering() -> Iterator[None]:
    """Mark ICE gathering started in this block as the SFU's own.

    Wrap the SFU's ``setLocalDescription`` (aiortc gathers there, in tasks that
    inherit this context).
    """
    token = _sfu_gathering.set(True)
    try:
        yield
    finally:
        _sfu_gathering.reset(token)


def _bind(address: str, ports: PortRange | None) -> socket.socket:
    """A non-blocking UDP socket on ``address``: inside ``ports``, or any port if None."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    # Round the range from where the last search ended; lazily: most binds take the first port.
    start = _settings.next_port
    candidates = (0,) if ports is None else (ports.low + (start + i) % len(ports) for i in range(len(ports)))
    for port in candidates:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((address, port))
        except OSError as exc:
            sock.close()
            if ports is not None and exc.errno == errno.EADDRINUSE:
                continue
            raise
        sock.setblocking(False)
        if ports is not None:
            _settings.next_port = port - ports.low + 1
        return sock
    raise MediaPortsExhausted(
        errno.EADDRINUSE, f"no free UDP port in the media port range {ports} on {address}"
    )


async def _get_component_candidates(
    self: aioice.ice.Connection, component: int, addresses: list[str], timeout: int = 5
) -> list[aioice.Candidate]:
    ports, public = _settings.ports, _settings.public_address
    if (
        not _sfu_gathering.get()
        or (ports is None and public is None)
        or self.stun_server is not None
        or self.turn_server is not None
    ):
        return await _aioice_get_component_candidates(self, component, addresses, timeout)

    loop = asyncio.get_running_loop()
    announced: list[aioice.Candidate] = []
    exhausted: MediaPortsExhausted | None = None
    for address in addresses:
        try:
            sock = _bind(address, ports)
        except MediaPortsExhausted as exc:
            exhausted = exc
            continue
        except OSError as exc:
            logger.info("Could not bind to %s - %s", address, exc)
            continue
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, aioice.turn.UDP_SOCKET_BUFFER_SIZE)
        _, protocol = await loop.create_datagram_endpoint(lambda: aioice.ice.StunProtocol(self), sock=sock)
        host, port = protocol.transport.get_extra_info("sockname")[:2]
        # What aioice pairs, checks and logs with: the address the socket is bound to.
        protocol.local_candidate = aioice.Candidate(
            foundation=aioice.ice.candidate_foundation("host", "udp", host),
            component=component,
            transport="udp",
            priority=aioice.ice.candidate_priority(component, "host"),
            host=host,
            port=port,
            type="host",
        )
        self._protocols.append(protocol)
        # What goes into the SDP: the public address under 1:1 NAT (same port).
        same_family = public is not None and (":" in public) == (":" in host)
        announced.append(
            aioice.Candidate(
                foundation=protocol.local_candidate.foundation,
                component=component,
                transport="udp",
                priority=protocol.local_candidate.priority,
                host=public,
                port=port,
                type="host",
            )
            if same_family
            else protocol.local_candidate
        )
    if not announced and exhausted is not None:
        raise exhausted
    if exhausted is not None:
        logger.warning("%s", exhausted)
    return announced


aioice.ice.Connection.get_component_candidates = _get_component_candidates  # type: ignore[method-assign]
