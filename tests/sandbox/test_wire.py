"""Requests in both of Authorize.Net's formats read into one shape and checked
against its XSD as Authorize.Net checks them (E00003 naming the element)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.processors.authorize_net import build
from gateway.processors.authorize_net.messages import Request
from gateway.processors.authorize_net.wire import encode
from gateway.processors.port import (
    CaptureRequest,
    RefundRequest,
    TokenizeRequest,
    VoidRequest,
)
from gateway.sandbox.wire import BOM, Format, SchemaError, read_request, write_request
from tests.processors.authorize_net.support import (
    ADDRESS,
    AUTH,
    CARD,
    REFERENCE,
    USD,
    charge_request,
)

NS = "AnetApi/xml/v1/schema/AnetApiSchema.xsd"
TOKEN = build.profile_token("500123", "600456")
NOW = datetime(2031, 3, 1, 12, tzinfo=UTC)

REQUESTS: dict[str, Request] = {
    "authenticate": build.authenticate_test(AUTH),
    "charge": build.charge(
        AUTH, charge_request(), capture=True, accepted_currencies=USD, duplicate_window_s=0
    ),
    "authorize": build.charge(AUTH, charge_request(), capture=False, accepted_currencies=USD),
    "token charge": build.charge(
        AUTH,
        charge_request(card=None, token=TOKEN, cvv="999", billing_address=None),
        capture=True,
        accepted_currencies=USD,
    ),
    "capture": build.capture(
        AUTH,
        CaptureRequest(REFERENCE, "80000000001", amount=1000, currency="USD"),
        accepted_currencies=USD,
    ),
    "refund": build.refund(
        AUTH,
        RefundRequest(REFERENCE, "80000000001", amount=500, currency="USD", card_last4="1111"),
        accepted_currencies=USD,
    ),
    "void": build.void(AUTH, VoidRequest(REFERENCE, "80000000001")),
    "details": build.transaction_details(AUTH, "80000000001"),
    "unsettled": build.unsettled_transactions(AUTH, page=2, limit=50),
    "settled batches": build.settled_batches(AUTH, first=NOW - timedelta(days=2), last=NOW),
    "batch": build.batch_transactions(AUTH, "90000001"),
    "create profile": build.create_customer_profile(
        AUTH,
        TokenizeRequest(REFERENCE, CARD, billing_address=ADDRESS, customer_email="a@example.com"),
        validation_mode="testMode",
    ),
    "delete profile": build.delete_customer_profile(AUTH, TOKEN),
}


def as_read(value: Any) -> Any:
    """JSON as the reader gives it back: every scalar a string."""
    if isinstance(value, dict):
        return {key: as_read(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_read(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.mark.parametrize("name", list(REQUESTS))
def test_every_request_the_connector_builds_reads_back_the_same_in_both_formats(name: str) -> None:
    request = REQUESTS[name]
    sent = json.loads(encode(request))[request.root]
    if request.root == "createCustomerProfileRequest":  # one repeated element, written bare
        sent["profile"]["paymentProfiles"] = [sent["profile"]["paymentProfiles"]]

    format_, root, body = read_request(BOM + encode(request), "application/json")
    assert (format_, root) == (Format.JSON, request.root)
    assert body == as_read(sent)
    assert list(body) == list(sent)

    xml = write_request(Format.XML, root, body)
    assert read_request(xml, "text/xml") == (Format.XML, root, body)
    assert read_request(write_request(Format.JSON, root, body), None) == (Format.JSON, root, body)


def charge_xml(prefix: str, declaration: str) -> bytes:
    p = f"{prefix}:" if prefix else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<{p}createTransactionRequest {declaration}>\n'
        f"  <{p}merchantAuthentication><{p}name>login1234</{p}name>"
        f"<{p}transactionKey>0123456789abcdef</{p}transactionKey></{p}merchantAuthentication>\n"
        f"  <{p}transactionRequest><{p}transactionType>authCaptureTransaction</{p}transactionType>"
        f"<{p}amount>5.00</{p}amount><{p}payment><{p}creditCard><{p}cardNumber>4111111111111111"
        f"</{p}cardNumber><{p}expirationDate>2031-03</{p}expirationDate></{p}creditCard>"
        f"</{p}payment></{p}transactionRequest>\n</{p}createTransactionRequest>"
    ).encode()


@pytest.mark.parametrize(
    ("prefix", "declaration"),
    [("", f'xmlns="{NS}"'), ("ns1", f'xmlns:ns1="{NS}"'), ("anet", f'xmlns:anet="{NS}"'), ("", "")],
    ids=["default namespace", "prefix ns1 (PyXB)", "prefix anet", "no namespace"],
)
def test_xml_requests_are_read_with_a_prefix_a_default_namespace_or_none(
    prefix: str, declaration: str
) -> None:
    format_, root, body = read_request(BOM + b"\r\n  " + charge_xml(prefix, declaration), None)

    assert (format_, root) == (Format.XML, "createTransactionRequest")
    assert body == {
        "merchantAuthentication": {"name": "login1234", "transactionKey": "0123456789abcdef"},
        "transactionRequest": {
            "transactionType": "authCaptureTransaction",
            "amount": "5.00",
            "payment": {
                "creditCard": {"cardNumber": "4111111111111111", "expirationDate": "2031-03"}
            },
        },
    }


def test_an_element_of_another_namespace_is_refused() -> None:
    with pytest.raises(SchemaError, match="namespace 'urn:other'") as caught:
        read_request(charge_xml("x", 'xmlns:x="urn:other"'), None)
    assert caught.value.format_ is Format.XML


def test_a_document_type_declaration_is_refused_so_no_entity_is_expanded() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<authenticateTestRequest><merchantAuthentication><name>&e;</name>"
        b"</merchantAuthentication></authenticateTestRequest>"
    )
    with pytest.raises(SchemaError, match="document type declaration"):
        read_request(body, None)


CHARGE = (
    '{"createTransactionRequest":{"merchantAuthentication":{"name":"n","transactionKey":"k"},'
    '"transactionRequest":{%s}}}'
)


@pytest.mark.parametrize(
    ("inner", "invalid", "expected"),
    [
        ('"amount":"5.00","transactionType":"authCaptureTransaction"', "amount", "transactionType"),
        (
            '"transactionType":"authCaptureTransaction","payment":{},"amount":"5.00"',
            "amount",
            "profile, solution, callId",
        ),
        ('"transactionType":"authCaptureTransaction","colour":"red"', "colour", "amount"),
        (
            '"transactionType":"authCaptureTransaction","amount":"1","amount":"2"',
            "amount",
            "currencyCode",
        ),
    ],
    ids=["out of order", "out of order later", "unknown", "twice"],
)
def test_an_element_out_of_order_or_unknown_is_e00003_naming_it(
    inner: str, invalid: str, expected: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        read_request((CHARGE % inner).encode(), "application/json")

    message = str(caught.value)
    assert message.startswith(
        f"The element 'transactionRequest' in namespace '{NS}' has invalid child element"
        f" '{invalid}' in namespace '{NS}'. List of possible elements expected: '{expected}"
    )
    assert caught.value.format_ is Format.JSON


def test_the_same_checks_apply_deep_inside_xml() -> None:
    body = charge_xml("", f'xmlns="{NS}"').replace(
        b"<cardNumber>", b"<cardCode>1</cardCode><cardNumber>"
    )
    with pytest.raises(
        SchemaError, match=r"'creditCard' .* invalid child element 'cardCode'"
    ) as caught:
        read_request(body, None)
    assert "expected: 'cardNumber'" in str(caught.value)


def test_a_missing_required_element_is_incomplete_content() -> None:
    with pytest.raises(
        SchemaError, match=r"'transactionRequest' .* incomplete content.*'transactionType'"
    ):
        read_request((CHARGE % "").encode(), None)
    with pytest.raises(SchemaError, match=r"'createTransactionRequest' .* incomplete content"):
        read_request(b'{"createTransactionRequest":{"merchantAuthentication":{"name":"n"}}}', None)


def test_text_and_children_must_be_where_the_schema_puts_them() -> None:
    with pytest.raises(SchemaError, match=r"'payment' .* cannot contain text"):
        read_request((CHARGE % '"transactionType":"x","payment":"card"').encode(), None)
    with pytest.raises(SchemaError, match=r"'amount' .* cannot contain child element 'value'"):
        read_request((CHARGE % '"transactionType":"x","amount":{"value":"1"}').encode(), None)


def test_a_typed_value_is_checked_without_echoing_it() -> None:
    with pytest.raises(SchemaError, match=r"amount' element is invalid.*'Decimal'") as caught:
        read_request((CHARGE % '"transactionType":"x","amount":"4111111111111111x"').encode(), None)
    assert "4111" not in str(caught.value)
    with pytest.raises(SchemaError, match="'Decimal'"):
        read_request((CHARGE % '"transactionType":"x","amount":null').encode(), None)


def test_json_numbers_and_booleans_are_read_as_their_text() -> None:
    body = (
        b'{"getUnsettledTransactionListRequest":{"merchantAuthentication":{"name":"n",'
        b'"transactionKey":"k"},"sorting":{"orderBy":"id","orderDescending":true},'
        b'"paging":{"limit":1000,"offset":1}}}'
    )
    _, _, read = read_request(body, None)
    assert read["sorting"] == {"orderBy": "id", "orderDescending": "true"}
    assert read["paging"] == {"limit": "1000", "offset": "1"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"fooRequest":{"merchantAuthentication":{"name":"n","transactionKey":"k"}}}',
        b"<fooRequest><merchantAuthentication/></fooRequest>",
        b'{"createTransactionResponse":{}}',
    ],
)
def test_an_unknown_root_is_a_schema_error_naming_it(body: bytes) -> None:
    with pytest.raises(SchemaError, match=f"schema information for the element '{NS}:"):
        read_request(body, None)


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[1]", b'{"a":{},"b":{}}', b"<a>", BOM + b"\xff\xfe", b"not json"],
)
def test_an_unreadable_body_is_a_schema_error(body: bytes) -> None:
    with pytest.raises(SchemaError):
        read_request(body, None)


def test_the_format_comes_from_the_body_then_the_content_type() -> None:
    with pytest.raises(SchemaError) as as_xml:
        read_request(b"garbage", "text/xml; charset=utf-8")
    with pytest.raises(SchemaError) as as_json:
        read_request(b"garbage", "application/json")
    with pytest.raises(SchemaError) as by_body:
        read_request(BOM + b" \n<garbage", "application/json")

    assert as_xml.value.format_ is Format.XML
    assert as_json.value.format_ is Format.JSON
    assert by_body.value.format_ is Format.XML


def test_attributes_such_as_pyxbs_xsi_types_are_ignored() -> None:
    body = (
        f'<ns1:authenticateTestRequest xmlns:ns1="{NS}"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<ns1:merchantAuthentication><ns1:name xsi:type="xs:string">n</ns1:name>'
        "<ns1:transactionKey>k</ns1:transactionKey></ns1:merchantAuthentication>"
        "<ns1:clientId>sdk-python-1.1.4</ns1:clientId></ns1:authenticateTestRequest>"
    ).encode()

    assert read_request(body, "application/xml")[2] == {
        "merchantAuthentication": {"name": "n", "transactionKey": "k"},
        "clientId": "sdk-python-1.1.4",
    }
