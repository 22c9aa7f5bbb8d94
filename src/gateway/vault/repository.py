"""Every query on payment methods."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.pagination import newest_first, page_of
from gateway.vault.models import PaymentMethod


class PaymentMethodRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, method: PaymentMethod) -> PaymentMethod:
        self.session.add(method)
        await self.session.flush()
        return method

    async def get(
        self, merchant_id: str, livemode: bool, method_id: str, *, for_update: bool = False
    ) -> PaymentMethod | None:
        """A live (not deleted) payment method of this merchant and mode."""
        statement = select(PaymentMethod).where(
            PaymentMethod.merchant_id == merchant_id,
            PaymentMethod.livemode == livemode,
            PaymentMethod.id == method_id,
            PaymentMethod.deleted_at.is_(None),
        )
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).one_or_none()

    async def get_by_id(self, method_id: str) -> PaymentMethod | None:
        """Any merchant's live payment method (for operators' commands)."""
        statement = select(PaymentMethod).where(
            PaymentMethod.id == method_id, PaymentMethod.deleted_at.is_(None)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def list(
        self,
        merchant_id: str,
        livemode: bool,
        *,
        customer_id: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[PaymentMethod], str | None]:
        statement = select(PaymentMethod).where(
            PaymentMethod.merchant_id == merchant_id,
            PaymentMethod.livemode == livemode,
            PaymentMethod.deleted_at.is_(None),
        )
        if customer_id is not None:
            statement = statement.where(PaymentMethod.customer_id == customer_id)
        statement = newest_first(
            statement, PaymentMethod.created_at, PaymentMethod.id, cursor=cursor, limit=limit
        )
        rows = (await self.session.scalars(statement)).all()
        return page_of(rows, limit, position=lambda row: (row.created_at, row.id))
