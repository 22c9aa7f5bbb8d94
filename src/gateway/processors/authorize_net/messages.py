"""Authorize.Net's JSON messages as typed structs (ANET.md §1).

Authorize.Net reads JSON through its XML schema, so a request's keys must come
in the XSD's element order (else `E00003`) and an absent element must be left
out, never `null`. msgspec writes a struct's fields in declaration order and
`omit_defaults` leaves out every field still at its default (`None`), so each
request struct below declares exactly the XSD elements we send, in the XSD's
order. Responses are decoded leniently: unknown fields are skipped, every
field we do not strictly need is optional.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

import msgspec

TransactionType = Literal[
    "authCaptureTransaction",
    "authOnlyTransaction",
    "priorAuthCaptureTransaction",
    "refundTransaction",
    "voidTransaction",
]


class _Wire(msgspec.Struct, kw_only=True, omit_defaults=True, rename="camel", frozen=True):
    """Camel-case keys; a field left at its default (None) is not written."""


# -- request parts, each in its XSD type's element order ----------------------


class MerchantAuthentication(_Wire, kw_only=True, frozen=True):  # merchantAuthenticationType
    name: str
    transaction_key: str


class CreditCard(_Wire, kw_only=True, frozen=True):  # creditCardType
    card_number: str  # the full number, or the last 4 on a refund
    expiration_date: str  # YYYY-MM, or "XXXX" on a refund
    card_code: str | None = None


class Payment(_Wire, kw_only=True, frozen=True):  # paymentType: one of its choice, then dataSource
    credit_card: CreditCard


class PaymentProfile(_Wire, kw_only=True, frozen=True):  # paymentProfile
    payment_profile_id: str
    card_code: str | None = None


class ProfileToCharge(_Wire, kw_only=True, frozen=True):  # customerProfilePaymentType
    customer_profile_id: str
    payment_profile: PaymentProfile


class Order(_Wire, kw_only=True, frozen=True):  # orderType
    invoice_number: str
    description: str | None = None


class Customer(_Wire, kw_only=True, frozen=True):  # customerDataType
    id: str | None = None
    email: str | None = None


class BillTo(_Wire, kw_only=True, frozen=True):  # customerAddressType
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    address: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    phone_number: str | None = None
    fax_number: str | None = None
    email: str | None = None


class Setting(_Wire, kw_only=True, frozen=True):  # settingType
    setting_name: str
    setting_value: str


class TransactionSettings(_Wire, kw_only=True, frozen=True):  # ArrayOfSetting
    setting: list[Setting]


class TransactionRequest(_Wire, kw_only=True, frozen=True):  # transactionRequestType, in part
    transaction_type: TransactionType
    amount: str | None = None  # a decimal string by the currency's exponent
    currency_code: str | None = None
    payment: Payment | None = None
    profile: ProfileToCharge | None = None
    ref_trans_id: str | None = None
    order: Order | None = None
    customer: Customer | None = None
    bill_to: BillTo | None = None
    transaction_settings: TransactionSettings | None = None


class Sorting(_Wire, kw_only=True, frozen=True):  # TransactionListSorting
    order_by: Literal["id", "submitTimeUTC"]
    order_descending: bool


class Paging(_Wire, kw_only=True, frozen=True):  # Paging: offset is a page number, from 1
    limit: int
    offset: int


class CustomerPaymentProfile(_Wire, kw_only=True, frozen=True):  # customerPaymentProfileType
    customer_type: Literal["individual", "business"] | None = None
    bill_to: BillTo | None = None
    payment: Payment | None = None


class CustomerProfile(_Wire, kw_only=True, frozen=True):  # customerProfileType
    merchant_customer_id: str  # our pm_ id: merchants' own ids collide on one account
    description: str | None = None
    email: str | None = None
    # A repeated element without a wrapper: Authorize.Net's own JSON examples
    # write the single profile as an object.
    payment_profiles: CustomerPaymentProfile


# -- requests: ANetApiRequest's elements, then the call's own ----------------


class Request(_Wire, kw_only=True, frozen=True):
    """ANetApiRequest; `root` names the JSON object the body is wrapped in."""

    root: ClassVar[str]

    merchant_authentication: MerchantAuthentication
    ref_id: str | None = None  # our txn_ id on every charge (≤ 20)


class AuthenticateTestRequest(Request, kw_only=True, frozen=True):
    root: ClassVar[str] = "authenticateTestRequest"


class CreateTransactionRequest(Request, kw_only=True, frozen=True):
    root: ClassVar[str] = "createTransactionRequest"

    transaction_request: TransactionRequest


class GetTransactionDetailsRequest(Request, kw_only=True, frozen=True):
    root: ClassVar[str] = "getTransactionDetailsRequest"

    trans_id: str


class GetUnsettledTransactionListRequest(Request, kw_only=True, frozen=True):
    root: ClassVar[str] = "getUnsettledTransactionListRequest"

    status: Literal["any", "pendingApproval"] | None = None
    sorting: Sorting | None = None
    paging: Paging | None = None


class GetSettledBatchListRequest(Request, kw_only=True, frozen=True):
    root: ClassVar[str] = "getSettledBatchListRequest"

    include_statistics: bool | None = None
    first_settlement_date: str | None = None  # xs:dateTime, UTC ("...Z")
    last_settlement_date: str | None = None


class GetTransactionListRequest(Request, kw_only=True, frozen=True):
    root: ClassVar[str] = "getTransactionListRequest"

    batch_id: str
    sorting: Sorting | None = None
    paging: Paging | None = None


class CreateCustomerProfileRequest(Request, kw_only=True, frozen=True):
    root: ClassVar[str] = "createCustomerProfileRequest"

    profile: CustomerProfile
    validation_mode: Literal["none", "testMode", "liveMode"] | None = None


class GetCustomerProfileRequest(Request, kw_only=True, frozen=True):
    root: ClassVar[str] = "getCustomerProfileRequest"

    customer_profile_id: str


class DeleteCustomerProfileRequest(Request, kw_only=True, frozen=True):
    root: ClassVar[str] = "deleteCustomerProfileRequest"

    customer_profile_id: str


# -- responses ----------------------------------------------------------------


class Message(_Wire, kw_only=True, frozen=True):
    code: str
    text: str = ""


class Messages(_Wire, kw_only=True, frozen=True):  # messagesType
    result_code: str  # "Ok" | "Error"
    message: list[Message] = []


class Response(_Wire, kw_only=True, frozen=True):
    """ANetApiResponse: every answer has it, an error answer little else."""

    ref_id: str | None = None
    messages: Messages

    @property
    def ok(self) -> bool:
        return self.messages.result_code == "Ok"

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(message.code for message in self.messages.message)


class AuthenticateTestResponse(Response, kw_only=True, frozen=True):
    pass


class TransactionMessage(_Wire, kw_only=True, frozen=True):
    code: str = ""
    description: str = ""


class TransactionError(_Wire, kw_only=True, frozen=True):
    error_code: str = ""
    error_text: str = ""


class TransactionResponse(_Wire, kw_only=True, frozen=True):
    response_code: str = ""  # "1" approved, "2" declined, "3" error, "4" held
    auth_code: str | None = None
    avs_result_code: str | None = None
    cvv_result_code: str | None = None
    trans_id: str | None = None  # "0" on many errors
    ref_trans_id: str | None = msgspec.field(default=None, name="refTransID")
    account_number: str | None = None  # XXXX1111
    account_type: str | None = None
    messages: list[TransactionMessage] = []
    errors: list[TransactionError] = []


class CreateTransactionResponse(Response, kw_only=True, frozen=True):
    transaction_response: TransactionResponse | None = None  # absent on E00007


class Batch(_Wire, kw_only=True, frozen=True):  # batchDetailsType
    batch_id: str
    settlement_time_utc: str | None = msgspec.field(default=None, name="settlementTimeUTC")
    settlement_state: str = ""


class OrderDetails(_Wire, kw_only=True, frozen=True):  # orderExType
    invoice_number: str | None = None
    description: str | None = None


class MaskedCreditCard(_Wire, kw_only=True, frozen=True):
    card_number: str = ""  # XXXX1111
    expiration_date: str = ""
    card_type: str | None = None


class MaskedPayment(_Wire, kw_only=True, frozen=True):
    credit_card: MaskedCreditCard | None = None


class TransactionDetails(_Wire, kw_only=True, frozen=True):  # transactionDetailsType
    trans_id: str
    ref_trans_id: str | None = None
    submit_time_utc: str = msgspec.field(name="submitTimeUTC")
    transaction_type: str
    transaction_status: str
    response_code: int
    response_reason_code: int
    response_reason_description: str = ""
    auth_code: str | None = None
    avs_response: str | None = msgspec.field(default=None, name="AVSResponse")
    card_code_response: str | None = None
    batch: Batch | None = None
    order: OrderDetails | None = None
    auth_amount: Decimal = Decimal(0)
    settle_amount: Decimal = Decimal(0)
    payment: MaskedPayment | None = None


class GetTransactionDetailsResponse(Response, kw_only=True, frozen=True):
    transaction: TransactionDetails | None = None  # absent when not found (E00040)
    transref_id: str | None = None  # the refId the transaction was made with


class TransactionSummary(_Wire, kw_only=True, frozen=True):  # transactionSummaryType
    trans_id: str
    submit_time_utc: str = msgspec.field(name="submitTimeUTC")
    transaction_status: str
    invoice_number: str | None = None
    account_type: str = ""
    account_number: str = ""
    settle_amount: Decimal = Decimal(0)


class TransactionListResponse(Response, kw_only=True, frozen=True):
    """getUnsettledTransactionListResponse and getTransactionListResponse."""

    transactions: list[TransactionSummary] = []
    total_num_in_result_set: int | None = None


class GetSettledBatchListResponse(Response, kw_only=True, frozen=True):
    batch_list: list[Batch] = []


class CreateCustomerProfileResponse(Response, kw_only=True, frozen=True):
    customer_profile_id: str | None = None
    customer_payment_profile_id_list: list[str] = []
    # One comma-separated direct response per validated payment profile.
    validation_direct_response_list: list[str] = []


class MaskedPaymentProfile(_Wire, kw_only=True, frozen=True):  # customerPaymentProfileMaskedType
    customer_payment_profile_id: str
    payment: MaskedPayment | None = None


class MaskedCustomerProfile(_Wire, kw_only=True, frozen=True):  # customerProfileMaskedType
    merchant_customer_id: str | None = None
    customer_profile_id: str | None = None
    payment_profiles: list[MaskedPaymentProfile] = []


class GetCustomerProfileResponse(Response, kw_only=True, frozen=True):
    profile: MaskedCustomerProfile | None = None  # absent when not found (E00040)


class DeleteCustomerProfileResponse(Response, kw_only=True, frozen=True):
    pass
