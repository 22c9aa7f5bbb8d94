"""Answers written as Authorize.Net writes them: BOM first, elements in XSD
order whatever the dict's order, ArrayOf wrappers flattened in JSON and
expanded in XML, and readable by the connector's own response structs."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from gateway.processors.authorize_net import messages, schema
from gateway.processors.authorize_net.wire import decode
from gateway.sandbox.wire import BOM, Format, SchemaError, read_response, write_response
from tests.sandbox.wire_samples import ANSWERS, APPROVED, DECLINED, DETAILS, REF_ID, shuffled

NS = "AnetApi/xml/v1/schema/AnetApiSchema.xsd"


@pytest.mark.parametrize("format_", list(Format))
@pytest.mark.parametrize("root", list(ANSWERS))
def test_every_answer_round_trips_in_both_formats(root: str, format_: Format) -> None:
    body = ANSWERS[root]
    written = write_response(format_, root, body)

    assert written.startswith(BOM)
    assert read_response(written, root) == body


@pytest.mark.parametrize("format_", list(Format))
@pytest.mark.parametrize("root", list(ANSWERS))
def test_the_dicts_order_does_not_change_the_answer(root: str, format_: Format) -> None:
    assert write_response(format_, root, shuffled(ANSWERS[root])) == write_response(
        format_, root, ANSWERS[root]
    )


def assert_xsd_order(node: dict[str, Any], type_name: str) -> None:
    assert list(node) == [name for name in schema.order(type_name) if name in node]
    for key, value in node.items():
        element = schema.child(type_name, key)
        assert element is not None
        if isinstance(value, dict):
            assert_xsd_order(value, element.type)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            item_type = (
                schema.item(element.type).type if schema.is_array(element.type) else element.type
            )
            for item in value:
                assert_xsd_order(item, item_type)


@pytest.mark.parametrize("root", list(ANSWERS))
def test_a_json_answer_is_the_content_alone_in_xsd_order(root: str) -> None:
    written = write_response(Format.JSON, root, shuffled(ANSWERS[root]))
    content = json.loads(written.decode("utf-8-sig"))

    assert root not in content
    assert_xsd_order(content, root)


def test_json_answers_type_scalars_as_the_xsd_does() -> None:
    content = json.loads(
        write_response(Format.JSON, "getTransactionDetailsResponse", DETAILS).decode("utf-8-sig"),
        parse_float=Decimal,
    )
    transaction = content["transaction"]

    assert transaction["responseCode"] == 1  # xs:int
    assert transaction["authAmount"] == Decimal("15.00")  # xs:decimal, trailing zeros kept
    assert b'"authAmount":15.00' in write_response(
        Format.JSON, "getTransactionDetailsResponse", DETAILS
    )
    assert transaction["taxExempt"] is False  # xs:boolean
    assert transaction["transId"] == "80000000001"  # numericString stays text
    assert content["messages"]["message"] == [{"code": "I00001", "text": "Successful."}]


def test_an_xml_answer_is_the_root_in_authorize_nets_namespace_in_xsd_order() -> None:
    written = write_response(Format.XML, "createTransactionResponse", shuffled(APPROVED))

    assert written.startswith(
        BOM + b'<?xml version="1.0" encoding="utf-8"?><createTransactionResponse'
        b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        b' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
        b' xmlns="AnetApi/xml/v1/schema/AnetApiSchema.xsd"><refId>' + REF_ID.encode() + b"</refId>"
        b"<messages><resultCode>Ok</resultCode><message><code>I00001</code>"
        b"<text>Successful.</text></message></messages><transactionResponse>"
        b"<responseCode>1</responseCode><authCode>A1B2C3</authCode>"
    )
    assert (
        b"<messages><message><code>1</code><description>This transaction has been approved."
        b"</description></message></messages><transHashSha2></transHashSha2>"
    ) in written


def test_lists_are_expanded_into_their_wrappers_and_text_is_escaped() -> None:
    body = {**ANSWERS["getUnsettledTransactionListResponse"]}
    body["transactions"] = [{**body["transactions"][0], "firstName": "A & <B>"}]
    written = write_response(Format.XML, "getUnsettledTransactionListResponse", body)

    assert b"<transactions><transaction><transId>80000000001</transId>" in written
    assert b"<firstName>A &amp; &lt;B&gt;</firstName>" in written
    assert b"</transaction></transactions><totalNumInResultSet>2</totalNumInResultSet>" in written


def test_a_required_list_absent_from_the_dict_is_written_empty() -> None:
    body = {
        "messages": ANSWERS["createCustomerProfileResponse"]["messages"],
        "customerProfileId": "5",
    }

    as_json = json.loads(write_response(Format.JSON, "createCustomerProfileResponse", body)[3:])
    as_xml = write_response(Format.XML, "createCustomerProfileResponse", body)

    assert as_json["customerPaymentProfileIdList"] == []
    assert as_json["validationDirectResponseList"] == []
    assert b"<customerShippingAddressIdList></customerShippingAddressIdList>" in as_xml


def test_a_key_that_is_no_element_is_a_bug_not_a_silent_omission() -> None:
    with pytest.raises(ValueError, match="transactionResponse has no element colour"):
        write_response(
            Format.JSON,
            "createTransactionResponse",
            {**APPROVED, "transactionResponse": {**APPROVED["transactionResponse"], "colour": "r"}},
        )
    with pytest.raises(ValueError, match="not an answer"):
        write_response(Format.JSON, "createTransactionRequest", {})


def test_a_json_answer_decodes_into_the_connectors_structs() -> None:
    approved = decode(
        write_response(Format.JSON, "createTransactionResponse", APPROVED),
        messages.CreateTransactionResponse,
    )
    declined = decode(
        write_response(Format.JSON, "createTransactionResponse", DECLINED),
        messages.CreateTransactionResponse,
    )
    details = decode(
        write_response(Format.JSON, "getTransactionDetailsResponse", DETAILS),
        messages.GetTransactionDetailsResponse,
    )

    assert approved.ok
    assert approved.ref_id == REF_ID
    assert approved.transaction_response is not None
    assert approved.transaction_response.trans_id == "80000000001"
    assert approved.transaction_response.messages[0].code == "1"
    assert declined.codes == ("E00027",)
    assert declined.transaction_response is not None
    assert declined.transaction_response.errors[0].error_code == "2"
    assert details.transaction is not None
    assert details.transref_id == REF_ID
    assert details.transaction.response_code == 1
    assert details.transaction.auth_amount == Decimal("15.00")
    assert details.transaction.batch is not None
    assert details.transaction.batch.settlement_state == "settledSuccessfully"
    assert details.transaction.payment is not None
    assert details.transaction.payment.credit_card is not None
    assert details.transaction.payment.credit_card.card_number == "XXXX1111"


@pytest.mark.parametrize(
    ("root", "struct"),
    [
        ("getUnsettledTransactionListResponse", messages.TransactionListResponse),
        ("getTransactionListResponse", messages.TransactionListResponse),
        ("getSettledBatchListResponse", messages.GetSettledBatchListResponse),
        ("createCustomerProfileResponse", messages.CreateCustomerProfileResponse),
        ("authenticateTestResponse", messages.AuthenticateTestResponse),
        ("deleteCustomerProfileResponse", messages.DeleteCustomerProfileResponse),
        ("ErrorResponse", messages.Response),
    ],
)
def test_every_json_answer_decodes_into_its_struct(
    root: str, struct: type[messages.Response]
) -> None:
    decoded = decode(write_response(Format.JSON, root, ANSWERS[root]), struct)

    assert decoded.messages.result_code == ANSWERS[root]["messages"]["resultCode"]
    if isinstance(decoded, messages.TransactionListResponse):
        assert [row.trans_id for row in decoded.transactions] == [
            row["transId"] for row in ANSWERS[root]["transactions"]
        ]
        assert decoded.total_num_in_result_set == len(decoded.transactions)
    if isinstance(decoded, messages.GetSettledBatchListResponse):
        assert [batch.batch_id for batch in decoded.batch_list] == ["90000001"]
    if isinstance(decoded, messages.CreateCustomerProfileResponse):
        assert decoded.customer_payment_profile_id_list == ["600456"]


def test_reading_an_answer_checks_it_against_the_schema() -> None:
    written = write_response(
        Format.XML, "authenticateTestResponse", ANSWERS["authenticateTestResponse"]
    )
    with pytest.raises(SchemaError, match="invalid child element 'refId'"):
        read_response(
            written.replace(b"</messages>", b"</messages><refId>x</refId>"),
            "authenticateTestResponse",
        )
