"""One served gateway (API and worker) for the examples' tests, and the examples' own
databases beside it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.examples.served import ServedGateway, served_gateway
from tests.fixtures.services import Services


@pytest.fixture(scope="package")
def gateway(
    database_url: str, test_redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedGateway]:
    log_dir = tmp_path_factory.mktemp("gateway")
    with served_gateway(database_url, test_redis_url, "Example Merchant", log_dir) as served:
        yield served


@pytest.fixture(scope="package")
def admin_url(services: Services) -> str:
    return services.postgres_admin_url
