"""Posting requests to Authorize.Net's one endpoint over a kept-alive pool.

What a failure means for a retry is decided here, by how far the request got:
- it never left (connection refused, DNS, TLS, connect or pool timeout):
  `NotSentError`, safe to send again;
- it may have arrived (a read or write timeout, a dropped connection, an
  answer that is not Authorize.Net's 200): `OutcomeUnknownError`, to be looked
  up by its refId / invoice number and never resent blindly (ANET.md §8: the
  official SDKs' missing timeouts and blind retries make ghost charges).
"""

from __future__ import annotations

from types import TracebackType
from typing import Final, TypeVar

import httpx

from gateway.processors.authorize_net import wire
from gateway.processors.authorize_net.messages import Request, Response
from gateway.processors.port import NotSentError, OutcomeUnknownError

R = TypeVar("R", bound=Response)

_HEADERS: Final = {"Content-Type": "application/json", "Accept": "application/json"}

# Raised before a single byte of the request can have reached the server.
_NOT_SENT: Final = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)


class AuthorizeNetClient:
    """One pool per process; `post` sends a request and decodes its answer."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_s: float,
        read_timeout_s: float,
        max_connections: int = 20,
        keepalive_expiry_s: float = 30.0,
    ) -> None:
        self.url = url
        self._http = httpx.AsyncClient(
            headers=_HEADERS,
            timeout=httpx.Timeout(
                connect=connect_timeout_s,
                read=read_timeout_s,
                write=read_timeout_s,
                pool=connect_timeout_s,
            ),
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=keepalive_expiry_s,
            ),
            # Authorize.Net is reached directly: no proxy from the environment
            # should see card numbers.
            trust_env=False,
        )

    async def post(self, request: Request, response_type: type[R]) -> R:
        body = wire.encode(request)
        try:
            answer = await self._http.post(self.url, content=body)
        except _NOT_SENT as error:
            raise NotSentError(f"{request.root} not sent: {_describe(error)}") from error
        except httpx.HTTPError as error:
            raise OutcomeUnknownError(
                f"{request.root} sent, no answer: {_describe(error)}"
            ) from error
        if answer.status_code != 200:
            # Authorize.Net answers 200 to everything, errors included: anything
            # else came from something in between, after the request left.
            raise OutcomeUnknownError(f"{request.root}: HTTP {answer.status_code} from {self.url}")
        return wire.decode(answer.content, response_type)

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AuthorizeNetClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _describe(error: httpx.HTTPError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
