"""Invariant 8, key rotation: old-key rows re-sealed online, resumable, never
overwriting a concurrent write, on real committed rows of every sealed table."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from gateway.core.clock import FrozenClock
from gateway.core.crypto import KeyRing, generate_key, key_id
from gateway.core.ids import new_id
from gateway.core.rotation import KeyRotation, Progress, count_by_key, sealed_tables
from gateway.core.sealed_columns import SEALED_COLUMNS, SealedColumn
from gateway.idempotency.models import IdempotencyRecord
from gateway.merchants.service import MerchantService
from gateway.payments.models import Transaction
from gateway.subscriptions.models import Subscription
from gateway.vault.models import PaymentMethod
from gateway.webhooks.outbound.models import WebhookEndpoint

# Underscores on purpose: a LIKE 'v1:b_new:%' would treat them as wildcards.
OLD_KID = "a_old"
NEW_KID = "b_new"
TABLES = (
    "transactions", "payment_methods", "idempotency_keys", "subscriptions", "webhook_endpoints"
)  # fmt: skip
ROWS_PER_TABLE = 5
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

Cell = tuple[str, str, str]  # (table, database column, row id)


@dataclass(frozen=True)
class Keys:
    old: KeyRing  # what the rows were sealed with
    both: KeyRing  # new key active, old key still readable: the ring during rotation
    new: KeyRing  # the old key removed


@pytest.fixture
def keys() -> Keys:
    old_entry, new_entry = generate_key(OLD_KID), generate_key(NEW_KID)
    return Keys(
        old=KeyRing.parse(old_entry),
        both=KeyRing.parse(f"{new_entry},{old_entry}"),
        new=KeyRing.parse(new_entry),
    )


@pytest.fixture
def sessions(committed_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(committed_engine, expire_on_commit=False)


def plaintext(table: str, bound_as: str, row_id: str) -> str:
    return f"{table}.{bound_as} of {row_id}: Jane Doe, 12 Rue des Fleurs"


def sealed_row(
    table: str, merchant_id: str, index: int, *, payment_method_id: str = ""
) -> Transaction | PaymentMethod | IdempotencyRecord | Subscription | WebhookEndpoint:
    if table == "transactions":
        return Transaction(
            id=new_id("txn"), merchant_id=merchant_id, livemode=False, type="purchase",
            status="succeeded", amount=1500, currency="USD", amount_captured=1500,
            amount_refunded=0, processor="simulator", metadata_={}, created_at=NOW,
            updated_at=NOW,
        )  # fmt: skip
    if table == "payment_methods":
        return PaymentMethod(
            id=new_id("pm"), merchant_id=merchant_id, livemode=False, processor="simulator",
            card_brand="visa", card_last4="1111", card_exp_month=12, card_exp_year=2030,
            card_fingerprint="f" * 64, created_at=NOW,
        )  # fmt: skip
    if table == "subscriptions":
        return Subscription(
            id=new_id("sub"), merchant_id=merchant_id, livemode=False, status="active",
            customer_id=f"cus_{index}", payment_method_id=payment_method_id, amount=1500,
            currency="USD", interval="month", interval_count=1, billing_anchor=NOW,
            current_period_start=NOW, current_period_end=NOW + timedelta(days=31),
            cycles_billed=1, cancel_at_period_end=False, failed_attempts=0, metadata_={},
            created_at=NOW, updated_at=NOW,
        )  # fmt: skip
    if table == "webhook_endpoints":
        return WebhookEndpoint(
            id=new_id("wep"), merchant_id=merchant_id, livemode=False,
            url=f"http://127.0.0.1:9/{index}", events=["*"], description=None, disabled=False,
            created_at=NOW, updated_at=NOW,
        )  # fmt: skip
    return IdempotencyRecord(
        id=new_id("idk"), merchant_id=merchant_id, livemode=False, key=f"key-{index}",
        fingerprint="f" * 64, state="completed", recovery_point="finished",
        response_status=201, created_at=NOW, updated_at=NOW,
        expires_at=NOW + timedelta(hours=72),
    )  # fmt: skip


async def seed(
    engine: AsyncEngine, ring: KeyRing, *, rows: int = ROWS_PER_TABLE
) -> dict[str, list[str]]:
    """`rows` rows in every sealed table with every sealed column set, committed;
    plus one transaction with nothing sealed, which rotation must leave alone."""
    clock = FrozenClock(NOW)
    ids: dict[str, list[str]] = {table: [] for table in TABLES}
    async with AsyncSession(engine, expire_on_commit=False) as session:
        merchant = await MerchantService(session, clock).create_merchant("Rotation Shop")
        for table in TABLES:
            for index in range(rows):
                # A subscription charges one of the payment methods made before it.
                methods = ids["payment_methods"] or [""]
                row = sealed_row(
                    table, merchant.id, index, payment_method_id=methods[index % len(methods)]
                )
                for sealed in SEALED_COLUMNS:
                    if sealed.table == table:
                        setattr(row, sealed.column, seal(ring, sealed, row.id))
                session.add(row)
                ids[table].append(row.id)
            await session.flush()  # rows of later tables may refer to these
        session.add(sealed_row("transactions", merchant.id, rows))
        await session.commit()
    return ids


def seal(ring: KeyRing, sealed: SealedColumn, row_id: str) -> str:
    return ring.encrypt(
        plaintext(sealed.table, sealed.bound_as, row_id),
        table=sealed.table,
        column=sealed.bound_as,
        row_id=row_id,
    )


async def stored_tokens(engine: AsyncEngine) -> dict[Cell, str]:
    """Every non-NULL sealed value in the database."""
    tokens: dict[Cell, str] = {}
    async with engine.connect() as connection:
        for sealed in SEALED_COLUMNS:
            result = await connection.execute(
                text(
                    f"SELECT {sealed.row_id}, {sealed.column} FROM {sealed.table}"
                    f" WHERE {sealed.column} IS NOT NULL"
                )
            )
            for row_id, token in result.all():
                tokens[sealed.table, sealed.column, row_id] = token
    return tokens


def bound_as(table: str, column: str) -> str:
    return next(s.bound_as for s in SEALED_COLUMNS if (s.table, s.column) == (table, column))


def assert_every_value_opens(tokens: dict[Cell, str], ring: KeyRing) -> None:
    for (table, column, row_id), token in tokens.items():
        name = bound_as(table, column)
        opened = ring.decrypt(token, table=table, column=name, row_id=row_id)
        assert opened == plaintext(table, name, row_id)


def kids_by_table(tokens: dict[Cell, str]) -> Counter[tuple[str, str]]:
    return Counter((table, key_id(token)) for (table, _, _), token in tokens.items())


async def counted(sessions: async_sessionmaker[AsyncSession]) -> dict[tuple[str, str], int]:
    async with sessions() as session:
        return await count_by_key(session)


async def update_value(engine: AsyncEngine, cell: Cell, token: str) -> None:
    table, column, row_id = cell
    async with engine.begin() as connection:
        await connection.execute(
            text(f"UPDATE {table} SET {column} = :token WHERE id = :id"),
            {"token": token, "id": row_id},
        )


def test_sealed_tables_cover_every_sealed_column() -> None:
    grouped = sealed_tables()
    assert [t.name for t in grouped] == list(TABLES)
    assert {c for t in grouped for c in t.columns} == set(SEALED_COLUMNS)


async def test_invariant_8_rotation_reseals_every_column_of_every_table(
    committed_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], keys: Keys
) -> None:
    await seed(committed_engine, keys.old)
    before = await stored_tokens(committed_engine)
    assert await counted(sessions) == {(t, OLD_KID): ROWS_PER_TABLE for t in TABLES}

    events: list[Progress] = []
    report = await KeyRotation(sessions, keys.both, batch_size=2).run(progress=events.append)

    assert report.active_kid == NEW_KID
    assert [(t.table, t.to_do, t.rotated, t.skipped, t.failed) for t in report.tables] == [
        (table, ROWS_PER_TABLE, ROWS_PER_TABLE, 0, 0) for table in TABLES
    ]
    after = await stored_tokens(committed_engine)
    assert after.keys() == before.keys(), "no value appears or disappears"
    assert all(after[cell] != before[cell] for cell in before)
    assert set(kids_by_table(after)) == {(t, NEW_KID) for t in TABLES}
    assert_every_value_opens(after, keys.new)
    assert await counted(sessions) == {(t, NEW_KID): ROWS_PER_TABLE for t in TABLES}

    # One start event per table, then one per batch of 2: 2, 4, 5.
    for table in TABLES:
        assert [(e.done, e.to_do) for e in events if e.table == table] == [
            (0, 5), (2, 5), (4, 5), (5, 5)
        ]  # fmt: skip

    again = await KeyRotation(sessions, keys.both).run()
    assert [(t.to_do, t.rotated) for t in again.tables] == [(0, 0)] * len(TABLES)
    assert await stored_tokens(committed_engine) == after, "nothing left to do: nothing written"


async def test_invariant_8_an_interrupted_rotation_stays_readable_and_resumes(
    committed_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], keys: Keys
) -> None:
    await seed(committed_engine, keys.old)

    class Interrupted(Exception):
        pass

    def stop_after_first_batch(progress: Progress) -> None:
        if progress.done:
            raise Interrupted

    with pytest.raises(Interrupted):
        await KeyRotation(sessions, keys.both, batch_size=2).run(progress=stop_after_first_batch)

    halfway = await stored_tokens(committed_engine)
    kids = kids_by_table(halfway)
    assert kids[("transactions", NEW_KID)] == 2 * 3, "the first batch (2 rows) was committed"
    assert kids[("transactions", OLD_KID)] == 3 * 3
    assert kids[("payment_methods", OLD_KID)] == 4 * ROWS_PER_TABLE
    # The API's ring during rotation opens every row, whichever key sealed it.
    assert_every_value_opens(halfway, keys.both)
    assert await counted(sessions) == {
        ("transactions", NEW_KID): 2,
        ("transactions", OLD_KID): 3,
        ("payment_methods", OLD_KID): ROWS_PER_TABLE,
        ("idempotency_keys", OLD_KID): ROWS_PER_TABLE,
        ("subscriptions", OLD_KID): ROWS_PER_TABLE,
        ("webhook_endpoints", OLD_KID): ROWS_PER_TABLE,
    }

    resumed = await KeyRotation(sessions, keys.both, batch_size=2).run()
    assert [(t.table, t.to_do, t.rotated) for t in resumed.tables] == [
        ("transactions", 3, 3),
        ("payment_methods", ROWS_PER_TABLE, ROWS_PER_TABLE),
        ("idempotency_keys", ROWS_PER_TABLE, ROWS_PER_TABLE),
        ("subscriptions", ROWS_PER_TABLE, ROWS_PER_TABLE),
        ("webhook_endpoints", ROWS_PER_TABLE, ROWS_PER_TABLE),
    ]
    final = await stored_tokens(committed_engine)
    for cell, token in halfway.items():
        if key_id(token) == NEW_KID:
            assert final[cell] == token, "rows rotated before the interruption are not redone"
    assert_every_value_opens(final, keys.new)


async def test_invariant_8_rotation_never_overwrites_a_value_written_meanwhile(
    committed_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], keys: Keys
) -> None:
    ids = await seed(committed_engine, keys.old)
    rotation = KeyRotation(sessions, keys.both, batch_size=10)
    transactions = sealed_tables()[0]
    async with sessions() as session:
        rows = await rotation.select_batch(session, transactions, after=None)
    assert [row.row_id for row in rows] == sorted(ids["transactions"])

    # The API seals a new holder name on one row after the batch read it.
    changed: Cell = ("transactions", "holder_name_encrypted", rows[0].row_id)
    written_meanwhile = keys.both.encrypt(
        "Janet Doe", table="transactions", column="holder_name", row_id=changed[2]
    )
    await update_value(committed_engine, changed, written_meanwhile)

    async with sessions.begin() as session:
        outcome = await rotation.reseal_batch(session, transactions, rows)
    assert (outcome.rotated, outcome.skipped, outcome.failed) == (ROWS_PER_TABLE - 1, 1, 0)
    tokens = await stored_tokens(committed_engine)
    assert tokens[changed] == written_meanwhile
    untouched = ("transactions", "customer_email_encrypted", changed[2])
    assert key_id(tokens[untouched]) == OLD_KID, "the skipped row is left whole for the next pass"

    # The next pass picks the row up and keeps the new name.
    report = await rotation.run()
    assert report.tables[0].rotated == 1
    tokens = await stored_tokens(committed_engine)
    assert key_id(tokens[untouched]) == NEW_KID
    name = keys.new.decrypt(
        tokens[changed], table="transactions", column="holder_name", row_id=changed[2]
    )
    assert name == "Janet Doe"


async def test_invariant_8_rotation_skips_a_row_being_written_without_waiting(
    committed_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], keys: Keys
) -> None:
    """A write still open when the batch's UPDATE comes: the row is left to the
    writer at once (the rotation neither waits nor blocks it), and to the next pass."""
    ids = await seed(committed_engine, keys.old, rows=2)
    rotation = KeyRotation(sessions, keys.both, batch_size=10)
    transactions = sealed_tables()[0]
    async with sessions() as session:
        rows = await rotation.select_batch(session, transactions, after=None)
    changed: Cell = ("transactions", "customer_email_encrypted", ids["transactions"][1])
    written_meanwhile = keys.both.encrypt(
        "new@example.com", table="transactions", column="customer_email", row_id=changed[2]
    )
    async with committed_engine.connect() as writer:
        transaction = await writer.begin()
        await writer.execute(
            text("UPDATE transactions SET customer_email_encrypted = :t WHERE id = :id"),
            {"t": written_meanwhile, "id": changed[2]},
        )
        async with sessions.begin() as session:
            # A wait on the writer's row lock would never end: it commits only below.
            outcome = await asyncio.wait_for(
                rotation.reseal_batch(session, transactions, rows), timeout=10
            )
        await transaction.commit()
    assert (outcome.rotated, outcome.skipped, outcome.failed) == (1, 1, 0)
    tokens = await stored_tokens(committed_engine)
    assert tokens[changed] == written_meanwhile
    sibling = ("transactions", "holder_name_encrypted", changed[2])
    assert key_id(tokens[sibling]) == OLD_KID

    report = await rotation.run()
    assert (report.tables[0].rotated, report.tables[0].skipped) == (1, 0)
    tokens = await stored_tokens(committed_engine)
    assert tokens[changed] == written_meanwhile
    assert key_id(tokens[sibling]) == NEW_KID


async def test_invariant_8_a_value_that_will_not_open_fails_alone(
    committed_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], keys: Keys
) -> None:
    ids = await seed(committed_engine, keys.old)
    tokens = await stored_tokens(committed_engine)
    # A flipped bit, a token moved from another row, and a key that left the ring.
    tampered: Cell = ("transactions", "holder_name_encrypted", ids["transactions"][1])
    token = tokens[tampered]
    flipped = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    moved: Cell = ("payment_methods", "processor_token_encrypted", ids["payment_methods"][2])
    moved_token = tokens[
        ("payment_methods", "processor_token_encrypted", ids["payment_methods"][0])
    ]
    lost: Cell = ("idempotency_keys", "response_body_encrypted", ids["idempotency_keys"][3])
    lost_token = KeyRing.parse(generate_key("gone")).encrypt(
        "{}", table="idempotency_keys", column="response_body", row_id=lost[2]
    )
    for cell, bad in ((tampered, flipped), (moved, moved_token), (lost, lost_token)):
        await update_value(committed_engine, cell, bad)

    with capture_logs() as logs:
        report = await KeyRotation(sessions, keys.both, batch_size=2).run()

    spoiled = ("transactions", "payment_methods", "idempotency_keys")
    assert [(t.table, t.rotated, t.skipped, t.failed) for t in report.tables] == [
        (table, ROWS_PER_TABLE - 1, 0, 1) if table in spoiled else (table, ROWS_PER_TABLE, 0, 0)
        for table in TABLES
    ]
    assert report.failed == 3
    failures = [entry for entry in logs if entry["event"] == "rotation.value_not_opened"]
    assert {(e["table"], e["column"], e["row_id"]) for e in failures} == {tampered, moved, lost}
    for bad in (flipped, moved_token, lost_token):
        assert bad not in repr(logs), "a ciphertext is never logged"

    after = await stored_tokens(committed_engine)
    assert (after[tampered], after[moved], after[lost]) == (flipped, moved_token, lost_token)
    # The tampered row's other values were rotated all the same.
    sibling = ("transactions", "customer_email_encrypted", tampered[2])
    assert key_id(after[sibling]) == NEW_KID
    good = {cell: token for cell, token in after.items() if cell not in {tampered, moved, lost}}
    assert_every_value_opens(good, keys.new)
    counts = await counted(sessions)
    assert counts[("transactions", OLD_KID)] == 1
    assert counts[("transactions", NEW_KID)] == ROWS_PER_TABLE
    assert counts[("idempotency_keys", "gone")] == 1


async def test_count_by_key_counts_a_half_rotated_row_under_both_keys(
    committed_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], keys: Keys
) -> None:
    ids = await seed(committed_engine, keys.old, rows=2)
    row_id = ids["payment_methods"][0]
    cell: Cell = ("payment_methods", "holder_name_encrypted", row_id)
    await update_value(
        committed_engine,
        cell,
        keys.both.encrypt("x", table="payment_methods", column="holder_name", row_id=row_id),
    )
    assert await counted(sessions) == {
        ("transactions", OLD_KID): 2,
        ("payment_methods", OLD_KID): 2,
        ("payment_methods", NEW_KID): 1,
        ("idempotency_keys", OLD_KID): 2,
        ("subscriptions", OLD_KID): 2,
        ("webhook_endpoints", OLD_KID): 2,
    }


def test_a_batch_size_below_one_is_refused(keys: Keys) -> None:
    with pytest.raises(ValueError, match="batch size"):
        KeyRotation(async_sessionmaker(), keys.both, batch_size=0)
