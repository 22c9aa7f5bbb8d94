"""Rewrite stored global card fingerprints as scoped ones, in place (issue 19).

No card number is kept, so the scoped fingerprint is computed from the stored
global one: HMAC(key(merchant, mode), global fingerprint). Alembic cannot do it
(it never holds GATEWAY_FINGERPRINT_KEY); `gateway migrate` runs this right after
the schema migrations. Idempotent: a rewritten row is marked `SCOPED` in the same
UPDATE, so it is never scoped twice, and concurrent runs skip each other's rows.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.card_fingerprints import GLOBAL, SCOPED
from gateway.core.crypto import Fingerprinter
from gateway.payments.models import Transaction
from gateway.vault.models import PaymentMethod

_MODELS: tuple[type[PaymentMethod] | type[Transaction], ...] = (PaymentMethod, Transaction)


async def scope_card_fingerprints(
    sessions: async_sessionmaker[AsyncSession], fingerprints: Fingerprinter, *, batch: int = 1000
) -> int:
    """Rewrite every row still holding a global fingerprint; how many were rewritten.
    One commit per batch, so a large table never holds its locks for long."""
    rewritten = 0
    for model in _MODELS:
        while done := await _scope_batch(sessions, fingerprints, model, batch):
            rewritten += done
    return rewritten


async def _scope_batch(
    sessions: async_sessionmaker[AsyncSession],
    fingerprints: Fingerprinter,
    model: type[PaymentMethod] | type[Transaction],
    batch: int,
) -> int:
    async with sessions() as session:
        rows = (
            await session.execute(
                select(model.id, model.merchant_id, model.livemode, model.card_fingerprint)
                .where(
                    model.card_fingerprint_version == GLOBAL,
                    model.card_fingerprint.is_not(None),
                )
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not rows:
            return 0
        await session.execute(
            update(model),
            [
                {
                    "id": row.id,
                    "card_fingerprint": fingerprints.scoped_card(
                        row.card_fingerprint, merchant_id=row.merchant_id, livemode=row.livemode
                    ),
                    "card_fingerprint_version": SCOPED,
                }
                for row in rows
            ],
        )
        await session.commit()
        return len(rows)
