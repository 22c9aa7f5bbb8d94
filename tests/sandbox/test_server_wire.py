"""The wire as Authorize.Net speaks it: HTTP 200 and a BOM on every answer,
E00007 for credentials other than the sandbox's, E00003 for what is not a call."""

from __future__ import annotations

import httpx

from gateway.processors.authorize_net import build
from gateway.processors.authorize_net.client import AuthorizeNetClient
from gateway.processors.authorize_net.messages import (
    AuthenticateTestResponse,
    CreateTransactionResponse,
    MerchantAuthentication,
    Response,
)
from gateway.processors.authorize_net.wire import decode, encode
from tests.fixtures.sandbox import RunningSandbox
from tests.sandbox.support import USD, charge

BOM = b"\xef\xbb\xbf"


async def _post(sandbox: RunningSandbox, body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.post(
            sandbox.api_url, content=body, headers={"Content-Type": "application/json"}
        )


async def test_every_answer_is_200_and_starts_with_the_bom(sandbox: RunningSandbox) -> None:
    wrong = MerchantAuthentication(name="someone", transaction_key="0123456789abcdef")
    bodies = [
        encode(build.authenticate_test(sandbox.auth)),
        encode(build.authenticate_test(wrong)),
        encode(build.charge(wrong, charge(), capture=True, accepted_currencies=USD)),
        b'{"fooRequest": {}}',
        b"not json",
    ]
    for body in bodies:
        answer = await _post(sandbox, body)
        assert answer.status_code == 200
        assert answer.content.startswith(BOM)
        assert answer.headers["content-type"].startswith("application/json")
        decode(answer.content, Response)  # every one reads as an ANetApiResponse


async def test_its_own_credentials_authenticate(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    answer = await client.post(build.authenticate_test(sandbox.auth), AuthenticateTestResponse)
    assert answer.ok
    assert answer.codes == ("I00001",)


async def test_other_credentials_get_e00007_and_no_transaction_response(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    for wrong in (
        MerchantAuthentication(name=sandbox.config.login_id, transaction_key="f" * 16),
        MerchantAuthentication(name="other-login", transaction_key=sandbox.config.transaction_key),
    ):
        request = build.charge(wrong, charge(), capture=True, accepted_currencies=USD)
        answer = await client.post(request, CreateTransactionResponse)
        assert not answer.ok
        assert answer.messages.result_code == "Error"
        assert answer.codes == ("E00007",)
        assert answer.messages.message[0].text == (
            "User authentication failed due to invalid authentication values."
        )
        assert answer.transaction_response is None
        assert answer.ref_id == request.ref_id


async def test_an_unknown_call_or_an_unreadable_body_is_e00003(sandbox: RunningSandbox) -> None:
    for body in (b'{"fooRequest": {"merchantAuthentication": {}}}', b"{", b"[1, 2]"):
        answer = decode((await _post(sandbox, body)).content, Response)
        assert not answer.ok
        assert answer.codes == ("E00003",)


async def test_other_paths_are_not_found(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        answer = await http.get(f"{sandbox.base_url}/xml/v1/request.api")
    assert answer.status_code == 404
