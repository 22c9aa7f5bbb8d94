"""The Authorize.Net connector: the processor port and the settlement reports
over Authorize.Net's API (ANET.md), on one kept-alive connection pool.

Every request is checked against Authorize.Net's limits and the account's
currencies before anything is sent (`build`), and every answer read in the
port's words (`answers`). A prior-auth capture and a void keep their parent's
transId, so they are found through the parent; `find_by_reference` finds the
charges and refunds, which carry our reference as their invoice number.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Final, assert_never

from gateway.core.card_numbers import detect_brand
from gateway.core.clock import Clock
from gateway.core.errors import ValidationFailed
from gateway.core.settings import Settings
from gateway.processors.authorize_net import answers, build, endpoint, limits, reports
from gateway.processors.authorize_net.client import AuthorizeNetClient
from gateway.processors.authorize_net.messages import (
    AuthenticateTestResponse,
    CreateCustomerProfileResponse,
    CreateTransactionRequest,
    CreateTransactionResponse,
    DeleteCustomerProfileResponse,
    GetCustomerProfileResponse,
    GetTransactionDetailsResponse,
    MerchantAuthentication,
    TransactionSummary,
)
from gateway.processors.port import (
    CaptureRequest,
    ChargeRequest,
    PortRequest,
    ProcessorResult,
    ProcessorTransaction,
    RefundRequest,
    RequestRejectedError,
    SettledTransaction,
    StoredCard,
    TokenizeRequest,
    VoidRequest,
)

# How far back a lookup by reference reads: a call that timed out is recent.
LOOKUP_PAGES: Final = 5  # of the unsettled list (1,000 a page), and of each settled batch
# A charge that timed out just before the daily cut-off may have settled since.
LOOKUP_SETTLED_SPAN: Final = timedelta(days=2)


class AuthorizeNetConnector:
    """`Processor` and `SettlementReports` on one Authorize.Net account.

    `currencies` are the account's (GATEWAY_LIVE_CURRENCIES): anything else is a
    400 before sending; amounts read back are in the first of them.
    """

    name: str = "authorize_net"

    def __init__(
        self,
        url: str,
        *,
        login_id: str,
        transaction_key: str,
        currencies: Collection[str],
        clock: Clock,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 20.0,
        lookup_pages: int = LOOKUP_PAGES,
        validation_mode: build.ValidationMode | None = None,
    ) -> None:
        if not currencies:
            raise ValueError("an Authorize.Net account settles in at least one currency")
        self.url = url
        self.login_id = login_id
        self.currencies = tuple(currencies)
        self._auth = MerchantAuthentication(name=login_id, transaction_key=transaction_key)
        self._clock = clock
        self._lookup_pages = lookup_pages
        self._validation_mode = validation_mode
        self._client = AuthorizeNetClient(
            url, connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock) -> AuthorizeNetConnector:
        """The configured account; a test run refuses any URL off the loopback
        interface here, before anything can be sent."""
        config = settings.processor
        return cls(
            endpoint.checked_url(config.authorize_net_environment, env=settings.core.env),
            login_id=config.authorize_net_login_id,
            transaction_key=config.authorize_net_transaction_key,
            currencies=config.live_currencies,
            clock=clock,
            connect_timeout_s=config.processor_connect_timeout_s,
            read_timeout_s=config.processor_read_timeout_s,
        )

    @property
    def account_currency(self) -> str:
        return self.currencies[0]

    @property
    def closed(self) -> bool:
        return self._client.closed

    async def aclose(self) -> None:
        await self._client.aclose()

    async def authenticate(self) -> None:
        """authenticateTestRequest: raises AuthorizeNetUnavailableError when the
        credentials or the environment are wrong, NotSentError when unreachable."""
        answer = await self._client.post(
            build.authenticate_test(self._auth), AuthenticateTestResponse
        )
        answers.raise_if_unavailable(answer)
        if not answer.ok:
            first = answer.messages.message[0] if answer.messages.message else None
            raise RequestRejectedError(
                first.text if first else "authentication refused",
                reason_code=first.code if first else None,
            )

    # -- money ---------------------------------------------------------------

    async def purchase(self, request: ChargeRequest) -> ProcessorResult:
        return await self._transact(
            build.charge(self._auth, request, capture=True, accepted_currencies=self.currencies)
        )

    async def authorize(self, request: ChargeRequest) -> ProcessorResult:
        return await self._transact(
            build.charge(self._auth, request, capture=False, accepted_currencies=self.currencies)
        )

    async def capture(self, request: CaptureRequest) -> ProcessorResult:
        # priorAuthCaptureTransaction: the answer keeps the authorization's transId.
        return await self._transact(
            build.capture(self._auth, request, accepted_currencies=self.currencies)
        )

    async def refund(self, request: RefundRequest) -> ProcessorResult:
        return await self._transact(
            build.refund(self._auth, request, accepted_currencies=self.currencies)
        )

    async def void(self, request: VoidRequest) -> ProcessorResult:
        return await self._transact(build.void(self._auth, request))

    def check(self, request: PortRequest) -> None:
        """Authorize.Net's field limits and the account's currencies, before sending."""
        match request:
            case ChargeRequest():
                limits.check_charge(request, accepted_currencies=self.currencies)
            case CaptureRequest():
                limits.check_capture(request, accepted_currencies=self.currencies)
            case RefundRequest():
                limits.check_refund(request, accepted_currencies=self.currencies)
            case VoidRequest():
                limits.check_void(request)
            case TokenizeRequest():
                limits.check_tokenize(request)
            case _:
                assert_never(request)

    async def _transact(self, message: CreateTransactionRequest) -> ProcessorResult:
        answer = await self._client.post(message, CreateTransactionResponse)
        return answers.transaction_result(answer)

    # -- lookups -------------------------------------------------------------

    async def get_transaction(self, processor_transaction_id: str) -> ProcessorTransaction | None:
        if not limits.is_transaction_id(processor_transaction_id):
            return None  # no Authorize.Net transaction has such an id: nothing to ask
        answer = await self._client.post(
            build.transaction_details(self._auth, processor_transaction_id),
            GetTransactionDetailsResponse,
        )
        return answers.transaction_details(answer, self.account_currency)

    async def find_by_reference(self, reference: str) -> ProcessorTransaction | None:
        """The charge or refund made with our reference (its invoice number): the
        unsettled list first, newest first, then the batches settled lately;
        its details fetched by transId. A capture or a void keeps its parent's
        transId and invoice number: it is found through the parent."""
        row = await reports.find_unsettled(
            self._client, self._auth, reference, max_pages=self._lookup_pages
        )
        if row is None:
            row = await self._find_settled(reference)
        return None if row is None else await self.get_transaction(row.trans_id)

    async def _find_settled(self, reference: str) -> TransactionSummary | None:
        now = self._clock.now()
        batches = await reports.settled_batches(
            self._client, self._auth, first=now - LOOKUP_SETTLED_SPAN, last=now
        )
        for batch in reversed(batches):  # the newest batch first
            rows = await reports.batch_rows(
                self._client, self._auth, batch.batch_id, max_pages=self._lookup_pages
            )
            for row in rows:
                if row.invoice_number == reference:
                    return row
        return None

    async def settled_transactions(
        self, first: datetime, last: datetime
    ) -> list[SettledTransaction]:
        """What settled in the batches of [first, last] (at most 31 days): every
        batch from getSettledBatchList, every page of its getTransactionList."""
        settled: list[SettledTransaction] = []
        for batch in await reports.settled_batches(
            self._client, self._auth, first=first, last=last
        ):
            rows = await reports.batch_rows(self._client, self._auth, batch.batch_id)
            settled += reports.settled(batch, rows, self.account_currency)
        return settled

    # -- stored cards (CIM) ----------------------------------------------------

    async def tokenize(self, request: TokenizeRequest) -> StoredCard:
        """A CIM customer profile with one payment profile, its merchantCustomerId
        our pm_ id. A repeat for the same pm_ id (E00039) resolves the profile the
        first call made, never a second."""
        message = build.create_customer_profile(
            self._auth, request, validation_mode=self._validation_mode
        )
        answer = await self._client.post(message, CreateCustomerProfileResponse)
        if answers.is_duplicate_profile(answer):
            customer_profile_id, payment_profile_id = await self._existing_profile(request, answer)
        else:
            customer_profile_id, payment_profile_id = answers.customer_profile_ids(answer)
        card = request.card
        return StoredCard(
            token=build.profile_token(customer_profile_id, payment_profile_id),
            brand=detect_brand(card.number) or "unknown",
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )

    async def _existing_profile(
        self, request: TokenizeRequest, answer: CreateCustomerProfileResponse
    ) -> tuple[str, str]:
        customer_profile_id = answers.duplicate_profile_id(answer)
        if customer_profile_id is None:
            raise RequestRejectedError(
                f"Authorize.Net already holds a customer profile for {request.reference}"
                " (E00039) and did not say which; no second one was made",
                reason_code=answers.DUPLICATE_PROFILE,
            )
        if answer.customer_payment_profile_id_list:
            return customer_profile_id, answer.customer_payment_profile_id_list[0]
        profile = await self._client.post(
            build.customer_profile(self._auth, customer_profile_id), GetCustomerProfileResponse
        )
        payment_profile_id = answers.payment_profile_of(
            profile, merchant_customer_id=request.reference, last4=request.card.last4
        )
        return customer_profile_id, payment_profile_id

    async def delete_payment_method(self, token: str) -> None:
        """deleteCustomerProfile; a profile already gone is as deleted as wanted.
        A token this connector could not have made is refused, as the port says."""
        try:
            message = build.delete_customer_profile(self._auth, token)
        except ValidationFailed as malformed:
            raise RequestRejectedError(
                "not an Authorize.Net payment profile", reason_code=answers.NOT_FOUND
            ) from malformed
        answer = await self._client.post(message, DeleteCustomerProfileResponse)
        answers.profile_deleted(answer)
