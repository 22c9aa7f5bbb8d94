"""The SSRF guard of merchants' webhook URLs (issue 18 point 5), shown through an
injected resolver: no test opens a connection off the loopback interface."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gateway.core.errors import ValidationFailed
from gateway.webhooks.outbound.destinations import (
    Resolver,
    check_destination,
    system_resolver,
)


def resolving_to(*addresses: str) -> Resolver:
    async def resolve(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolve


async def _refused(url: str, *addresses: str, production: bool = True) -> str:
    with pytest.raises(ValidationFailed) as refusal:
        await check_destination(url, production=production, resolve=resolving_to(*addresses))
    return str(refusal.value)


async def test_production_accepts_https_to_public_addresses_only() -> None:
    await check_destination(
        "https://hooks.example.com/gateway",
        production=True,
        resolve=resolving_to("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"),
    )


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.7",
        "172.16.3.4",
        "192.168.1.10",
        "169.254.169.254",  # a cloud's metadata service
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:10.0.0.7",  # IPv4-mapped private
        "224.0.0.1",
    ],
)
async def test_production_refuses_a_host_resolving_to_a_non_public_address(address: str) -> None:
    assert "non-public" in await _refused("https://hooks.example.com/", address)


async def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    assert "non-public" in await _refused(
        "https://rebind.example.com/", "93.184.216.34", "10.1.1.1"
    )


async def test_production_refuses_plain_http() -> None:
    assert "https" in await _refused("http://hooks.example.com/", "93.184.216.34")


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "https:///nohost", "hooks.example.com", "https://u:p@example.com/"],
)
async def test_what_is_not_an_http_url_is_refused_everywhere(url: str) -> None:
    await _refused(url, "127.0.0.1", production=False)


async def test_outside_production_loopback_and_private_addresses_are_allowed() -> None:
    for address in ("127.0.0.1", "10.0.0.7", "::1"):
        await check_destination(
            "http://127.0.0.1:9000/hook", production=False, resolve=resolving_to(address)
        )


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    assert "does not resolve" in await _refused("https://nowhere.example/", production=False)


async def test_the_system_resolver_resolves_loopback_without_leaving_the_machine() -> None:
    assert "127.0.0.1" in await system_resolver("127.0.0.1", 80)
