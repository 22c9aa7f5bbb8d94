"""Invariant 8 on transactions: personal data sealed to its row, column and key."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gateway.core.clock import FrozenClock
from gateway.core.crypto import DecryptionError, FieldCrypto, KeyRing, generate_key
from gateway.core.ids import new_id
from gateway.core.personal import BillingAddress, PersonalData, seal, unseal
from gateway.merchants.models import Merchant
from gateway.merchants.service import MerchantService
from gateway.payments.models import Transaction

PERSONAL = PersonalData(
    customer_email="Jane.Doe@Example.com",
    billing_address=BillingAddress(
        line1="12 Rue des Fleurs", city="Lyon", postal_code="69001", country="FR"
    ),
    holder_name="Jane Doe",
)
TABLE = "transactions"
CLEAR_TEXTS = ("Jane.Doe@Example.com", "jane.doe@example.com", "Rue des Fleurs", "Lyon", "Jane Doe")


def new_transaction(merchant: Merchant) -> Transaction:
    now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    return Transaction(
        id=new_id("txn"),
        merchant_id=merchant.id,
        livemode=False,
        type="purchase",
        status="pending",
        amount=1500,
        currency="USD",
        amount_captured=0,
        amount_refunded=0,
        processor="simulator",
        customer_id="cus_42",
        metadata_={},
        created_at=now,
        updated_at=now,
    )


async def stored(db_session: AsyncSession, merchant: Merchant, crypto: FieldCrypto) -> Transaction:
    transaction = new_transaction(merchant)
    seal(transaction, PERSONAL, crypto, table=TABLE)
    db_session.add(transaction)
    await db_session.flush()
    return transaction


async def test_invariant_8_personal_data_round_trips(
    db_session: AsyncSession, merchant: Merchant, field_crypto: FieldCrypto
) -> None:
    transaction = await stored(db_session, merchant, field_crypto)
    db_session.expunge_all()
    loaded = await db_session.get(Transaction, transaction.id)
    assert loaded is not None
    assert unseal(loaded, field_crypto, table=TABLE) == PERSONAL
    assert loaded.customer_id == "cus_42", "the merchant's own reference stays in clear"


async def test_invariant_8_personal_data_is_unreadable_in_the_database(
    db_session: AsyncSession, merchant: Merchant, field_crypto: FieldCrypto
) -> None:
    transaction = await stored(db_session, merchant, field_crypto)
    row = (
        await db_session.execute(
            text("SELECT t::text FROM transactions t WHERE id = :id"), {"id": transaction.id}
        )
    ).scalar_one()
    for clear in CLEAR_TEXTS:
        assert clear not in row
    assert f"v1:{field_crypto.keyring.active_kid}:" in row, "the ciphertext names its key"


async def test_invariant_8_email_is_searchable_by_blind_index_only(
    db_session: AsyncSession, merchant: Merchant, field_crypto: FieldCrypto
) -> None:
    transaction = await stored(db_session, merchant, field_crypto)
    index = field_crypto.blind_index.email("  jane.doe@EXAMPLE.com ")
    found = (
        await db_session.execute(
            text("SELECT id FROM transactions WHERE customer_email_index = :i"), {"i": index}
        )
    ).scalar_one()
    assert found == transaction.id


async def test_invariant_8_ciphertext_moved_to_another_row_fails(
    db_session: AsyncSession, merchant: Merchant, field_crypto: FieldCrypto
) -> None:
    first = await stored(db_session, merchant, field_crypto)
    second = await stored(db_session, merchant, field_crypto)
    # Bulk UPDATEs skip mapper events: exactly how a row swap would slip in.
    await db_session.execute(
        update(Transaction)
        .where(Transaction.id == second.id)
        .values(holder_name_encrypted=first.holder_name_encrypted)
    )
    db_session.expunge_all()
    moved = await db_session.get(Transaction, second.id)
    assert moved is not None
    with pytest.raises(DecryptionError):
        unseal(moved, field_crypto, table=TABLE)


async def test_invariant_8_ciphertext_moved_to_another_column_fails(
    db_session: AsyncSession, merchant: Merchant, field_crypto: FieldCrypto
) -> None:
    transaction = await stored(db_session, merchant, field_crypto)
    transaction.holder_name_encrypted = transaction.customer_email_encrypted
    with pytest.raises(DecryptionError):
        unseal(transaction, field_crypto, table=TABLE)


async def test_invariant_8_a_flipped_bit_fails(
    db_session: AsyncSession, merchant: Merchant, field_crypto: FieldCrypto
) -> None:
    transaction = await stored(db_session, merchant, field_crypto)
    token = transaction.holder_name_encrypted
    assert token is not None
    flipped = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    transaction.holder_name_encrypted = flipped
    with pytest.raises(DecryptionError):
        unseal(transaction, field_crypto, table=TABLE)


async def test_invariant_8_an_unknown_key_id_is_a_clear_error(
    db_session: AsyncSession, merchant: Merchant, field_crypto: FieldCrypto
) -> None:
    transaction = await stored(db_session, merchant, field_crypto)
    other = FieldCrypto(
        KeyRing.parse(generate_key("newkey")), field_crypto.fingerprints, field_crypto.blind_index
    )
    with pytest.raises(DecryptionError, match="unknown encryption key id"):
        unseal(transaction, other, table=TABLE)


async def test_invariant_8_old_rows_stay_readable_after_a_new_key_is_added(
    db_session: AsyncSession, merchant: Merchant, field_crypto: FieldCrypto, settings: object
) -> None:
    transaction = await stored(db_session, merchant, field_crypto)
    old_entries = settings.secrets.encryption_keys  # type: ignore[attr-defined]
    rotated = FieldCrypto(
        KeyRing.parse(f"{generate_key('k2')},{old_entries}"),
        field_crypto.fingerprints,
        field_crypto.blind_index,
    )
    assert unseal(transaction, rotated, table=TABLE) == PERSONAL
    assert rotated.keyring.needs_rotation(str(transaction.holder_name_encrypted))


def _psql() -> str:
    import pgserver  # noqa: PLC0415 - only to find its psql when the machine has none

    found = shutil.which("psql")
    return found or str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql")


async def test_invariant_8_psql_shows_only_ciphertext(
    committed_engine: AsyncEngine, database_url: str, field_crypto: FieldCrypto, clock: FrozenClock
) -> None:
    async with AsyncSession(committed_engine, expire_on_commit=False) as session:
        merchant = await MerchantService(session, clock).create_merchant("Committed Shop")
        transaction = new_transaction(merchant)
        seal(transaction, PERSONAL, field_crypto, table=TABLE)
        session.add(transaction)
        await session.commit()
    url = make_url(database_url)
    environment = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    arguments = [_psql(), "-X", "-A", "-U", url.username or "postgres", "-d", url.database or ""]
    socket_dir = url.query.get("host")
    arguments += ["-h", str(socket_dir or url.host), "-p", str(url.port or 5432)]
    completed = await asyncio.to_thread(
        subprocess.run,
        [*arguments, "-c", "SELECT * FROM transactions"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=30,
        check=True,
    )
    dump = completed.stdout
    assert transaction.id in dump
    for clear in CLEAR_TEXTS:
        assert clear not in dump
