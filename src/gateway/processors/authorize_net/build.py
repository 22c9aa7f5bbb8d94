"""Requests built from the port's calls, each checked against Authorize.Net's
limits first (`limits`), so nothing over a limit is ever sent.

Our reference goes out as `refId` on every call and as `order.invoiceNumber` on
every call that makes a transaction of its own (charges, refunds): the
unsettled list shows the invoice number, not the refId, and is where
reconciliation looks after a timeout. A prior-auth capture and a void keep
the parent's transId, so they are found through the parent.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from gateway.core.errors import ValidationFailed
from gateway.processors.authorize_net import limits
from gateway.processors.authorize_net.messages import (
    AuthenticateTestRequest,
    BillTo,
    CreateCustomerProfileRequest,
    CreateTransactionRequest,
    CreditCard,
    Customer,
    CustomerPaymentProfile,
    CustomerProfile,
    DeleteCustomerProfileRequest,
    GetCustomerProfileRequest,
    GetSettledBatchListRequest,
    GetTransactionDetailsRequest,
    GetTransactionListRequest,
    GetUnsettledTransactionListRequest,
    MerchantAuthentication,
    Order,
    Paging,
    Payment,
    PaymentProfile,
    ProfileToCharge,
    Setting,
    Sorting,
    TransactionRequest,
    TransactionSettings,
)
from gateway.processors.authorize_net.wire import amount_to_wire
from gateway.processors.port import (
    Address,
    CaptureRequest,
    Card,
    ChargeRequest,
    RefundRequest,
    TokenizeRequest,
    VoidRequest,
)

SETTLED_BATCH_SPAN_MAX: Final = timedelta(days=31)
_TOKEN_SEPARATOR: Final = "/"  # noqa: S105 - a separator, not a secret

ValidationMode = Literal["none", "testMode", "liveMode"]


def profile_token(customer_profile_id: str, payment_profile_id: str) -> str:
    """A stored card's token: the CIM customer profile and its payment profile."""
    return f"{customer_profile_id}{_TOKEN_SEPARATOR}{payment_profile_id}"


def parse_profile_token(token: str) -> tuple[str, str]:
    customer, _, payment = token.partition(_TOKEN_SEPARATOR)
    if not (customer.isdigit() and payment.isdigit()):
        raise ValidationFailed.for_field("token", "not an Authorize.Net payment profile")
    return customer, payment


def charge(
    auth: MerchantAuthentication,
    request: ChargeRequest,
    *,
    capture: bool,
    accepted_currencies: Collection[str],
    duplicate_window_s: int | None = None,
) -> CreateTransactionRequest:
    """authCaptureTransaction (capture) or authOnlyTransaction, of a card or a
    CIM payment profile (the token)."""
    limits.check_charge(request, accepted_currencies=accepted_currencies)
    payment: Payment | None = None
    profile: ProfileToCharge | None = None
    if request.card is not None:
        payment = Payment(credit_card=_credit_card(request.card))
    else:
        assert request.token is not None  # ChargeRequest holds exactly one
        customer_profile_id, payment_profile_id = parse_profile_token(request.token)
        profile = ProfileToCharge(
            customer_profile_id=customer_profile_id,
            payment_profile=PaymentProfile(
                payment_profile_id=payment_profile_id, card_code=request.cvv
            ),
        )
    customer = None
    if request.customer_id is not None or request.customer_email is not None:
        customer = Customer(id=request.customer_id, email=request.customer_email)
    settings = None
    if duplicate_window_s is not None:
        settings = TransactionSettings(
            setting=[Setting(setting_name="duplicateWindow", setting_value=str(duplicate_window_s))]
        )
    return CreateTransactionRequest(
        merchant_authentication=auth,
        ref_id=request.reference,
        transaction_request=TransactionRequest(
            transaction_type="authCaptureTransaction" if capture else "authOnlyTransaction",
            amount=amount_to_wire(request.amount, request.currency),
            currency_code=request.currency,
            payment=payment,
            profile=profile,
            order=Order(invoice_number=request.reference, description=request.description),
            customer=customer,
            bill_to=_bill_to(request.billing_address, request.card),
            transaction_settings=settings,
        ),
    )


def capture(
    auth: MerchantAuthentication, request: CaptureRequest, *, accepted_currencies: Collection[str]
) -> CreateTransactionRequest:
    """priorAuthCaptureTransaction: no amount captures all that was authorized."""
    limits.check_capture(request, accepted_currencies=accepted_currencies)
    amount = None if request.amount is None else amount_to_wire(request.amount, request.currency)
    return CreateTransactionRequest(
        merchant_authentication=auth,
        ref_id=request.reference,
        transaction_request=TransactionRequest(
            transaction_type="priorAuthCaptureTransaction",
            amount=amount,
            ref_trans_id=request.processor_transaction_id,
        ),
    )


def refund(
    auth: MerchantAuthentication, request: RefundRequest, *, accepted_currencies: Collection[str]
) -> CreateTransactionRequest:
    """refundTransaction: the original card's last 4 and "XXXX" for its expiry."""
    limits.check_refund(request, accepted_currencies=accepted_currencies)
    return CreateTransactionRequest(
        merchant_authentication=auth,
        ref_id=request.reference,
        transaction_request=TransactionRequest(
            transaction_type="refundTransaction",
            amount=amount_to_wire(request.amount, request.currency),
            currency_code=request.currency,
            payment=Payment(
                credit_card=CreditCard(card_number=request.card_last4, expiration_date="XXXX")
            ),
            ref_trans_id=request.processor_transaction_id,
            order=Order(invoice_number=request.reference),
        ),
    )


def void(auth: MerchantAuthentication, request: VoidRequest) -> CreateTransactionRequest:
    limits.check_void(request)
    return CreateTransactionRequest(
        merchant_authentication=auth,
        ref_id=request.reference,
        transaction_request=TransactionRequest(
            transaction_type="voidTransaction", ref_trans_id=request.processor_transaction_id
        ),
    )


def create_customer_profile(
    auth: MerchantAuthentication,
    request: TokenizeRequest,
    *,
    validation_mode: ValidationMode | None = None,
) -> CreateCustomerProfileRequest:
    """A CIM customer with one payment profile; `merchantCustomerId` is our pm_ id."""
    limits.check_tokenize(request)
    return CreateCustomerProfileRequest(
        merchant_authentication=auth,
        ref_id=request.reference,
        profile=CustomerProfile(
            merchant_customer_id=request.reference,
            email=request.customer_email,
            payment_profiles=CustomerPaymentProfile(
                customer_type="individual",
                bill_to=_bill_to(request.billing_address, request.card),
                payment=Payment(credit_card=_credit_card(request.card)),
            ),
        ),
        validation_mode=validation_mode,
    )


def delete_customer_profile(
    auth: MerchantAuthentication, token: str
) -> DeleteCustomerProfileRequest:
    customer_profile_id, _ = parse_profile_token(token)
    return DeleteCustomerProfileRequest(
        merchant_authentication=auth, customer_profile_id=customer_profile_id
    )


def customer_profile(
    auth: MerchantAuthentication, customer_profile_id: str
) -> GetCustomerProfileRequest:
    limits.check_transaction_id(customer_profile_id, "customer_profile_id")
    return GetCustomerProfileRequest(
        merchant_authentication=auth, customer_profile_id=customer_profile_id
    )


def transaction_details(
    auth: MerchantAuthentication, processor_transaction_id: str
) -> GetTransactionDetailsRequest:
    limits.check_transaction_id(processor_transaction_id)
    return GetTransactionDetailsRequest(
        merchant_authentication=auth, trans_id=processor_transaction_id
    )


def unsettled_transactions(
    auth: MerchantAuthentication, *, page: int = 1, limit: int = 1000
) -> GetUnsettledTransactionListRequest:
    """One page of the unsettled list, newest first (a timed-out call is recent)."""
    limits.check_page(limit, page)
    return GetUnsettledTransactionListRequest(
        merchant_authentication=auth,
        sorting=Sorting(order_by="submitTimeUTC", order_descending=True),
        paging=Paging(limit=limit, offset=page),
    )


def settled_batches(
    auth: MerchantAuthentication, *, first: datetime, last: datetime
) -> GetSettledBatchListRequest:
    if first.tzinfo is None or last.tzinfo is None:
        raise ValueError("settlement dates must be aware")
    if not timedelta(0) <= last - first <= SETTLED_BATCH_SPAN_MAX:
        raise ValidationFailed.for_field("last_settlement_date", "at most 31 days after the first")
    start, end = _whole_seconds(first, last)
    return GetSettledBatchListRequest(
        merchant_authentication=auth,
        first_settlement_date=_utc(start),
        last_settlement_date=_utc(end),
    )


def batch_transactions(
    auth: MerchantAuthentication, batch_id: str, *, page: int = 1, limit: int = 1000
) -> GetTransactionListRequest:
    limits.check_transaction_id(batch_id, "batch_id")
    limits.check_page(limit, page)
    return GetTransactionListRequest(
        merchant_authentication=auth,
        batch_id=batch_id,
        sorting=Sorting(order_by="id", order_descending=False),
        paging=Paging(limit=limit, offset=page),
    )


def authenticate_test(auth: MerchantAuthentication) -> AuthenticateTestRequest:
    return AuthenticateTestRequest(merchant_authentication=auth)


def _credit_card(card: Card) -> CreditCard:
    return CreditCard(
        card_number=card.number,
        expiration_date=f"{card.exp_year:04d}-{card.exp_month:02d}",
        card_code=card.cvv,
    )


def _bill_to(address: Address | None, card: Card | None) -> BillTo | None:
    first = last = None
    if card is not None and card.holder_name:
        first, last = limits.split_name(card.holder_name)
    if address is None and last is None:
        return None
    return BillTo(
        first_name=first or None,
        last_name=last or None,
        address=limits.address_line(address) if address else None,
        city=address.city if address else None,
        state=address.state if address else None,
        zip=address.postal_code if address else None,
        country=address.country if address else None,
    )


def _whole_seconds(first: datetime, last: datetime) -> tuple[datetime, datetime]:
    """[first, last] in the whole seconds the wire carries, still covering all of
    it: `last` rounded up, or a batch settled within its last second would wait
    for the next sync (and `gateway settle --now` would not see its own batch);
    never wider than one report may be."""
    start = first.replace(microsecond=0)
    end = last.replace(microsecond=0)
    if end < last:
        end += timedelta(seconds=1)
    return max(start, end - SETTLED_BATCH_SPAN_MAX), end


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
