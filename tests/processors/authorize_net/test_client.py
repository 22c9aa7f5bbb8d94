"""The HTTP client against a real server on a local port: answers decoded through
the BOM over one kept-alive connection, and failures named by what they mean
for a retry (refused → not sent; sent and unanswered → outcome unknown)."""

from __future__ import annotations

import json

import pytest

from gateway.processors.authorize_net import build
from gateway.processors.authorize_net.client import AuthorizeNetClient
from gateway.processors.authorize_net.messages import (
    AuthenticateTestResponse,
    CreateTransactionResponse,
)
from gateway.processors.authorize_net.wire import MalformedResponseError
from gateway.processors.port import NotSentError, OutcomeUnknownError, VoidRequest
from tests.processors.authorize_net.local_server import (
    BOM,
    OK_BODY,
    answer_with,
    closed_port,
    hang_up,
    never_answer,
    serving,
)
from tests.processors.authorize_net.support import AUTH, REFERENCE


def client(url: str, *, read_timeout_s: float = 2.0) -> AuthorizeNetClient:
    return AuthorizeNetClient(url, connect_timeout_s=1.0, read_timeout_s=read_timeout_s)


async def test_answers_are_decoded_over_one_kept_alive_connection() -> None:
    async with serving(answer_with(200, OK_BODY)) as (url, seen), client(url) as anet:
        first = await anet.post(build.authenticate_test(AUTH), AuthenticateTestResponse)
        second = await anet.post(
            build.void(AUTH, VoidRequest(REFERENCE, "80000000001")), CreateTransactionResponse
        )

    assert first.ok
    assert second.codes == ("I00001",)
    assert seen.connections == 1
    headers, body = seen.requests[1]
    assert headers["content-type"] == "application/json"
    sent = json.loads(body)
    assert list(sent) == ["createTransactionRequest"]
    assert list(sent["createTransactionRequest"]) == [
        "merchantAuthentication",
        "refId",
        "transactionRequest",
    ]


async def test_a_closed_port_is_not_sent() -> None:
    url = f"http://127.0.0.1:{closed_port()}/xml/v1/request.api"
    async with client(url) as anet:
        with pytest.raises(NotSentError):
            await anet.post(build.authenticate_test(AUTH), AuthenticateTestResponse)


async def test_a_server_that_never_answers_is_an_unknown_outcome() -> None:
    async with serving(never_answer) as (url, seen), client(url, read_timeout_s=0.2) as anet:
        with pytest.raises(OutcomeUnknownError) as unknown:
            await anet.post(
                build.void(AUTH, VoidRequest(REFERENCE, "80000000001")), CreateTransactionResponse
            )

    assert not isinstance(unknown.value, NotSentError)
    assert len(seen.requests) == 1  # it was sent: never resend it blindly


async def test_a_connection_dropped_after_sending_is_an_unknown_outcome() -> None:
    async with serving(hang_up) as (url, seen), client(url) as anet:
        with pytest.raises(OutcomeUnknownError):
            await anet.post(build.authenticate_test(AUTH), AuthenticateTestResponse)
    assert len(seen.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_status_authorize_net_never_sends_is_an_unknown_outcome(status: int) -> None:
    async with serving(answer_with(status, b"Bad gateway")) as (url, _), client(url) as anet:
        with pytest.raises(OutcomeUnknownError) as unknown:
            await anet.post(build.authenticate_test(AUTH), AuthenticateTestResponse)
    assert str(status) in str(unknown.value)


async def test_an_unreadable_answer_is_an_unknown_outcome() -> None:
    async with serving(answer_with(200, BOM + b"<html/>")) as (url, _), client(url) as anet:
        with pytest.raises(MalformedResponseError):
            await anet.post(build.authenticate_test(AUTH), AuthenticateTestResponse)
