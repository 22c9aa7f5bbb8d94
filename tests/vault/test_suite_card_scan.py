"""The suite's own check of invariant 2 (tests/fixtures/card_scan.py) finds what a
test writes, where it writes it: otherwise "pci-scan finds nothing after the
suite's traffic" would prove nothing."""

from __future__ import annotations

import pytest
from redis import Redis as SyncRedis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gateway.core.clock import FrozenClock
from gateway.merchants.service import MerchantService
from tests.fixtures.card_scan import CardScanner, scan_redis_or_fail

pytestmark = pytest.mark.plants_card_data


async def test_a_card_number_a_rolled_back_test_wrote_is_found(
    db_session: AsyncSession,
    db_connection: AsyncConnection,
    card_scanner: CardScanner,
    clock: FrozenClock,
) -> None:
    await card_scanner.written_in_transaction(db_connection, "a clean test")
    await MerchantService(db_session, clock).create_merchant("Shop 4111 1111 1111 1111")
    await db_session.commit()  # a savepoint of the outer transaction
    with pytest.raises(pytest.fail.Exception, match=r"411111\*{6}1111 in database merchants"):
        await card_scanner.written_in_transaction(db_connection, "a leaky test")


def test_a_card_number_left_in_redis_is_found(test_redis_url: str) -> None:
    with SyncRedis.from_url(test_redis_url) as client:
        client.set("leaky", '{"number": "4007000000027"}')
        try:
            with pytest.raises(pytest.fail.Exception, match=r"card_number"):
                scan_redis_or_fail(client, "a leaky test")
        finally:
            client.delete("leaky")
        scan_redis_or_fail(client, "a clean test")
