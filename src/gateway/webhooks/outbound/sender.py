"""One HTTP attempt of a delivery (issue 18 points 4 and 5, API.md "Webhooks /
Outbound"), the way Svix sends: short timeouts and a deadline on the whole
attempt, redirects not followed (a 3xx is a failure), the answer read to at
most 4 KiB for the attempt log, card numbers masked in that excerpt.

Connections go through `CheckedBackend`: the host is resolved with the
injected resolver, the addresses are checked (destinations.check_addresses,
public only in production) and the connection is made to a checked address,
so a name that resolves to a public address when the endpoint is created and
to an internal one later (DNS rebinding) is refused at connection. TLS still
verifies, and sends as SNI, the host name.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Final

import httpcore
import httpx

from gateway import __version__
from gateway.core.errors import ValidationFailed
from gateway.core.logging import mask_card_numbers
from gateway.webhooks.outbound.destinations import Resolver, check_addresses

EXCERPT_BYTES: Final = 4096
USER_AGENT: Final = f"gateway-webhooks/{__version__}"
# A cut excerpt may end inside a card number too short to be recognised as one.
_TRAILING_DIGITS = re.compile(r"[\d -]+$")

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class DestinationRefused(httpcore.ConnectError):
    """The host resolved to an address we must not connect to (httpx turns it
    into an `httpx.ConnectError` carrying this message)."""


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to checked addresses."""

    def __init__(
        self,
        resolve: Resolver,
        *,
        production: bool,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._resolve = resolve
        self._production = production
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._resolve(host, port)
        except OSError as error:
            raise httpcore.ConnectError(f"{host} does not resolve") from error
        try:
            check_addresses(host, addresses, production=self._production)
        except ValidationFailed as error:
            raise DestinationRefused(f"destination refused: {error.errors[0].message}") from error
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last = error
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("deliveries never go to a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, backend: CheckedBackend, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx's transport takes no network backend: its pool is made again with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def delivery_client(*, timeout_s: float, resolve: Resolver, production: bool) -> httpx.AsyncClient:
    """The client of one worker run (close it when the run ends)."""
    transport = _CheckedTransport(
        CheckedBackend(resolve, production=production),
        httpx.Limits(max_connections=200, max_keepalive_connections=50),
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt came to: the receiver's answer, or why there was none."""

    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    excerpt: str | None = None
    error: str | None = None
    retry_after_s: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """`Retry-After` as seconds from `now`: delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        return None
    return max(0.0, (at - now).total_seconds())


def excerpt_of(raw: bytes, *, cut: bool) -> str:
    """The stored excerpt of an answer: text, no NUL (PostgreSQL refuses it),
    card numbers masked, and when `cut`, no trailing digit run that may be the
    start of a card number."""
    text = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
    if cut:
        text = _TRAILING_DIGITS.sub("", text)
    return mask_card_numbers(text)


async def _read_excerpt(response: httpx.Response) -> tuple[bytes, bool]:
    chunks = bytearray()
    async for chunk in response.aiter_raw():
        chunks.extend(chunk)
        if len(chunks) > EXCERPT_BYTES:
            return bytes(chunks[:EXCERPT_BYTES]), True
    return bytes(chunks), False


def _describe(error: BaseException) -> str:
    name = type(error).__name__
    detail = mask_card_numbers(str(error))[:500]
    return f"{name}: {detail}" if detail else name


async def send_attempt(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout_s: float,
    started_at: datetime,
) -> AttemptResult:
    """POST `body` to `url` once; never raises for what the receiver did."""
    began = time.monotonic()

    def elapsed_ms() -> int:
        return round((time.monotonic() - began) * 1000)

    try:
        async with asyncio.timeout(timeout_s):
            request = client.build_request(
                "POST",
                url,
                content=body,
                headers={"Content-Type": "application/json", **headers},
            )
            response = await client.send(request, stream=True)
            try:
                raw, cut = await _read_excerpt(response)
            finally:
                await response.aclose()
    except TimeoutError:
        return AttemptResult(
            started_at, elapsed_ms(), error=f"Timeout: no answer within {timeout_s:g} s"
        )
    except httpx.HTTPError as error:
        return AttemptResult(started_at, elapsed_ms(), error=_describe(error))
    status = response.status_code
    refused = None
    if 300 <= status < 400:
        refused = f"redirect to {response.headers.get('location', '?')} not followed"
    return AttemptResult(
        started_at,
        elapsed_ms(),
        status_code=status,
        excerpt=excerpt_of(raw, cut=cut) or None,
        error=mask_card_numbers(refused)[:500] if refused else None,
        retry_after_s=parse_retry_after(response.headers.get("retry-after"), now=started_at),
    )
