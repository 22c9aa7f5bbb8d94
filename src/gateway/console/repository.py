"""Every query of operator accounts and of the console's audit rows."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import AuditEntry
from gateway.console.models import Operator


class OperatorRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, operator: Operator) -> Operator:
        self.session.add(operator)
        await self.session.flush()
        return operator

    async def get(self, operator_id: str) -> Operator | None:
        return await self.session.get(Operator, operator_id)

    async def by_email(self, email: str, *, for_update: bool = False) -> Operator | None:
        query = select(Operator).where(Operator.email == email)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add_audit(self, entry: AuditEntry) -> AuditEntry:
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def audit_of(self, operator_id: str, limit: int = 100) -> list[AuditEntry]:
        query = (
            select(AuditEntry)
            .where(AuditEntry.operator_id == operator_id)
            .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())
