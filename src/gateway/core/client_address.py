"""The address a request came from, as rate limits count it (API.md "Rate limits").

`X-Forwarded-For` is believed only when the peer is one of
GATEWAY_TRUSTED_PROXIES: anyone else could name a new address on every request
and never be counted.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from typing import Any

from litestar.connection import ASGIConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

UNKNOWN = "unknown"


@functools.lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def client_address(
    connection: ASGIConnection[Any, Any, Any, Any], trusted_proxies: tuple[str, ...]
) -> str:
    """The peer's address; behind trusted proxies, the nearest address in
    X-Forwarded-For that is not one of them (read from the right: a client may
    write anything on the left, each proxy appends what it saw)."""
    peer = connection.client.host if connection.client else UNKNOWN
    networks = _networks(trusted_proxies)
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [
        hop.strip()
        for header in connection.headers.getall("x-forwarded-for", [])
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else peer
