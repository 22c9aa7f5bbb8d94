"""Who is calling: the authenticated merchant, key and mode of a request."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.tenancy import Owner
from gateway.merchants.scopes import Scope, grants


@dataclass(frozen=True, slots=True)
class Principal:
    merchant_id: str
    merchant_name: str
    key_id: str
    livemode: bool
    scopes: frozenset[str]
    # The merchant's own cap per charge; None: the deployment's GATEWAY_MAX_AMOUNT.
    max_amount: int | None = None
    # The merchant's own requests per second per key; None: the deployment's default.
    rate_limit: int | None = None

    @property
    def owner(self) -> Owner:
        return Owner(merchant_id=self.merchant_id, livemode=self.livemode)

    def can(self, scope: Scope) -> bool:
        return grants(self.scopes, scope)
