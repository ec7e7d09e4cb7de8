"""Which local addresses the SFU's ICE agents offer as host candidates.

aioice gathers on every interface except 127.0.0.1. A server must name its own:
a loopback-only test, a LAN box with several NICs, a container. This is a
process-wide setting because aioice reads it from a module-level function.
"""

from __future__ import annotations

import aioice.ice

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
