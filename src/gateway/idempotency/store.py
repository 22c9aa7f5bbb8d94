"""The key store: claim a key, remember how far its request got, keep its answer.

What a key means for a new request (API.md "Idempotency"):
- no row (or an expired one): fresh, the request runs;
- another request's fingerprint: 422 `idempotency_key_reused`;
- completed: the stored answer again (`Idempotent-Replayed: true`);
- in flight within its lock: 409 `idempotency_key_in_use`;
- in flight past its lock: the holder died. If it had written nothing the key is
  taken over; if its pending transaction exists, that transaction (being
  reconciled) is the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.ids import new_id
from gateway.core.rows import row_values
from gateway.idempotency.fingerprint import RequestFingerprint
from gateway.idempotency.models import IdempotencyRecord

TABLE = "idempotency_keys"
BODY_COLUMN = "response_body"

# API.md: only these answers are kept for replay; any other leaves the key free.
STORED_STATUSES = frozenset({200, 201, 202, 402, 404, 409, 422, 502})


_KEYS = IdempotencyRecord.__table__
assert isinstance(_KEYS, Table)
# Core statements, built once (core/rows.py): the claim, and changes by row id
# (an UPDATE sets the columns its parameters name).
_CLAIM = (
    insert(_KEYS)
    .on_conflict_do_nothing(index_elements=["merchant_id", "livemode", "key"])
    .returning(_KEYS.c.id)
)
_FIND = select(*_KEYS.columns).where(
    _KEYS.c.merchant_id == bindparam("merchant_id"),
    _KEYS.c.livemode == bindparam("livemode"),
    _KEYS.c.key == bindparam("key"),
)
_FIND_FOR_UPDATE = _FIND.with_for_update()
_BY_ID = update(_KEYS).where(_KEYS.c.id == bindparam("record_id"))
_DELETE_BY_ID = delete(_KEYS).where(_KEYS.c.id == bindparam("record_id"))


class State(StrEnum):
    IN_FLIGHT = "in_flight"
    COMPLETED = "completed"


class RecoveryPoint(StrEnum):
    STARTED = "started"
    RESERVED = "reserved"
    FINISHED = "finished"


class Decision(StrEnum):
    FRESH = "fresh"
    REPLAY = "replay"
    IN_USE = "in_use"
    REUSED = "reused"
    ORPHANED = "orphaned"  # the holder died after reserving: answer from its transaction


@dataclass(frozen=True)
class KeyScope:
    merchant_id: str
    livemode: bool
    key: str


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes


def decide(
    record: IdempotencyRecord | None, fingerprint: RequestFingerprint, now: datetime
) -> Decision:
    if record is None or record.expires_at <= now:
        return Decision.FRESH
    if not fingerprint.matches(record.fingerprint):
        return Decision.REUSED
    if record.state == State.COMPLETED:
        return Decision.REPLAY
    if record.locked_until is not None and record.locked_until > now:
        return Decision.IN_USE
    if record.recovery_point == RecoveryPoint.STARTED:
        return Decision.FRESH
    return Decision.ORPHANED


class IdempotencyStore:
    def __init__(
        self,
        session: AsyncSession,
        *,
        clock: Clock,
        crypto: FieldCrypto,
        lock_seconds: int,
        retention_hours: int,
    ) -> None:
        self.session = session
        self.clock = clock
        self.crypto = crypto
        self.lock = timedelta(seconds=lock_seconds)
        self.retention = timedelta(hours=retention_hours)

    async def find(self, scope: KeyScope, *, for_update: bool = False) -> IdempotencyRecord | None:
        """The key's row, read by a Core statement (every POST's pre-check runs it);
        the object is not tracked: changes to the row are statements by its id."""
        statement = _FIND_FOR_UPDATE if for_update else _FIND
        row = (
            (
                await self.session.execute(
                    statement,
                    {
                        "merchant_id": scope.merchant_id,
                        "livemode": scope.livemode,
                        "key": scope.key,
                    },
                )
            )
            .mappings()
            .one_or_none()
        )
        return None if row is None else IdempotencyRecord(**row)

    async def claim(
        self, scope: KeyScope, fingerprint: RequestFingerprint
    ) -> tuple[Decision, IdempotencyRecord]:
        """Take the key for this request, or say why not. The row is inserted (or, when
        free, re-armed) in the caller's transaction, which the caller commits."""
        now = self.clock.now()
        fresh = IdempotencyRecord(
            id=new_id("idk"),
            merchant_id=scope.merchant_id,
            livemode=scope.livemode,
            key=scope.key,
            created_at=now,
            **self._held(fingerprint, now),
        )
        # A Core INSERT ... ON CONFLICT DO NOTHING (core/rows.py): a fresh row is
        # locked by this transaction's insert, and the object, never tracked, only
        # carries its id to the statements that change the row by id.
        if await self.session.scalar(_CLAIM, row_values(fresh)) is not None:
            return Decision.FRESH, fresh
        record = await self.find(scope, for_update=True)
        assert record is not None  # there before: a conflict
        decision = decide(record, fingerprint, now)
        if decision is Decision.FRESH:
            await self._rearm(record, fingerprint, now)
        return decision, record

    def _held(self, fingerprint: RequestFingerprint, now: datetime) -> dict[str, Any]:
        """The columns of a key this request holds, with nothing written yet."""
        return {
            "fingerprint": fingerprint.current,
            "state": State.IN_FLIGHT,
            "recovery_point": RecoveryPoint.STARTED,
            "locked_until": now + self.lock,
            "transaction_id": None,
            "response_status": None,
            "response_body_encrypted": None,
            "updated_at": now,
            "expires_at": now + self.retention,
        }

    async def _rearm(
        self, record: IdempotencyRecord, fingerprint: RequestFingerprint, now: datetime
    ) -> None:
        """Take over a key whose holder wrote nothing, or whose retention ended."""
        held = self._held(fingerprint, now)
        await self.session.execute(_BY_ID, {"record_id": record.id, **held})
        for name, value in held.items():
            setattr(record, name, value)

    async def mark_reserved(self, record_id: str, transaction_id: str) -> None:
        """Phase 1 wrote its transaction: one UPDATE by the claimed row's id."""
        await self.session.execute(
            _BY_ID,
            {
                "record_id": record_id,
                "recovery_point": RecoveryPoint.RESERVED,
                "transaction_id": transaction_id,
                "updated_at": self.clock.now(),
            },
        )

    async def complete(self, record_id: str, response: StoredResponse) -> None:
        """Keep the answer, sealed since it may carry personal data (invariant 8): one
        UPDATE by the row's id (which takes the row's lock); nothing of the row is
        needed but its id. A row gone meanwhile (purged) is left gone."""
        await self.session.execute(
            _BY_ID,
            {
                "record_id": record_id,
                "state": State.COMPLETED,
                "recovery_point": RecoveryPoint.FINISHED,
                "locked_until": None,
                "response_status": response.status,
                "response_body_encrypted": self.crypto.seal(
                    response.body.decode(), table=TABLE, column=BODY_COLUMN, row_id=record_id
                ),
                "updated_at": self.clock.now(),
            },
        )

    async def release(self, record_id: str) -> None:
        """Free the key (the answer was one API.md does not keep: 503, ...): one
        DELETE by the row's id."""
        await self.session.execute(_DELETE_BY_ID, {"record_id": record_id})

    def stored_response(self, record: IdempotencyRecord) -> StoredResponse:
        assert record.response_status is not None
        body = self.crypto.open(
            record.response_body_encrypted, table=TABLE, column=BODY_COLUMN, row_id=record.id
        )
        return StoredResponse(status=record.response_status, body=(body or "").encode())

    async def purge_expired(self, *, batch: int = 1000) -> int:
        """Delete keys past their retention, in batches (the retention purge job)."""
        now = self.clock.now()
        expired = (
            select(IdempotencyRecord.id)
            .where(IdempotencyRecord.expires_at <= now)
            .limit(batch)
            .scalar_subquery()
        )
        result = await self.session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(expired))
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
