"""Where a merchant may have us post (issue 18 point 5, API.md "Webhooks /
Outbound"): a guard against server-side request forgery.

In production an endpoint's URL must be `https://` and its host must resolve to
public addresses only, every one of them: a name that also resolves to a
private, loopback, link-local or reserved address could point our worker at
the internal network. The check runs when the endpoint is created or changed,
and again with the addresses of each connection (a name may resolve to a new
address later: DNS rebinding). Outside production, loopback and private
addresses are allowed, for tests and `make run`.

Resolution is injected (`Resolver`), so the production refusals are shown
without a connection leaving the machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Final
from urllib.parse import urlsplit

from gateway.core.errors import ValidationFailed

# Every address a host name resolves to.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

FIELD: Final = "url"
MAX_URL_LENGTH: Final = 2048


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The operating system's resolver, off the event loop's thread."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed.for_field(FIELD, message)


def parse_destination(url: str, *, production: bool) -> tuple[str, int]:
    """The host and port of an endpoint URL, refused (400 naming `url`) when it
    is not an absolute http(s) URL, or not https in production."""
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(f"at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _refuse("an absolute http(s) URL is required")
    if production and parts.scheme != "https":
        raise _refuse("must be https:// in production")
    if parts.username or parts.password:
        raise _refuse("credentials in the URL are not accepted")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise _refuse("the port is not a number from 1 to 65535") from error
    return parts.hostname, port


def is_public(address: Address) -> bool:
    """Reachable on the public internet, and nothing else (no private, loopback,
    link-local, shared, multicast or reserved range; IPv4-mapped IPv6 unwrapped)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check_addresses(host: str, addresses: Sequence[str], *, production: bool) -> None:
    """Refuse a host that resolves to nothing, or in production to any
    non-public address."""
    if not addresses:
        raise _refuse(f"{host} does not resolve")
    if not production:
        return
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError as error:
            raise _refuse(f"{host} resolves to an unreadable address") from error
        if not is_public(address):
            raise _refuse(f"{host} resolves to a non-public address")


async def check_destination(url: str, *, production: bool, resolve: Resolver) -> None:
    """The whole check of an endpoint URL, as at its creation or change."""
    host, port = parse_destination(url, production=production)
    try:
        addresses = await resolve(host, port)
    except OSError as error:
        raise _refuse(f"{host} does not resolve") from error
    check_addresses(host, addresses, production=production)
