"""schemathesis over every operation of the served API with a test key finds
nothing (issue 19 point 8); its settings are the checked-in schemathesis.toml."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from gateway.core.settings import Settings
from gateway.merchants.scopes import Scope
from tests.fixtures.merchants import KeyFactory
from tests.jobs.conftest import job_environment  # noqa: F401 - a fixture, for `served`
from tests.served_api import REPOSITORY, serving

pytestmark = pytest.mark.slow

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


@pytest.fixture
def served(
    job_environment: Redis,  # noqa: F811 - the fixture imported above
    settings: Settings,
) -> Iterator[str]:
    keys = settings.processor.authorize_net_signature_keys
    assert keys
    with serving({"GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS": keys[0]}) as url:
        yield url


@pytest.fixture
async def committed_key(make_committed_key: KeyFactory) -> str:
    return await make_committed_key(Scope.ADMIN)


def test_schemathesis_finds_no_failure_in_any_operation(served: str, committed_key: str) -> None:
    key = committed_key
    run = subprocess.run(  # noqa: S603 - our own command line
        [
            SCHEMATHESIS,
            "run",
            f"{served}/schema/openapi.json",
            "--header",
            f"Authorization: Bearer {key}",
            "--workers",
            "4",
        ],
        cwd=REPOSITORY,  # where schemathesis.toml is
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-2000:]
