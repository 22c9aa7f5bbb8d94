"""Rate limits (API.md "Rate limits"): per key after authentication, reads and
writes apart; failed authentications and forged webhooks per client address;
open when Redis is down. The tests' settings raise every limit; these lower them."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import msgspec
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.app import create_app
from gateway.composition.process import lent_resources
from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.errors import ValidationFailed
from gateway.core.rate_limit_settings import RateLimitSettings
from gateway.core.settings import Settings
from gateway.merchants.models import Merchant
from gateway.merchants.principal import Principal
from gateway.merchants.rate_limits import key_policy
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from gateway.processors.simulator import Simulator
from gateway.webhooks.signature import sign
from tests.fixtures.merchants import KeyFactory
from tests.fixtures.payments import charge_body
from tests.support import closed_port, http_client
from tests.webhooks import notification

ME = "/api/v1/merchants/me"
PURCHASE = "/api/v1/payments/purchase"
BAD_KEY = "gw_test_" + "z" * 40


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def counted(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def limited(settings: Settings, **limits: object) -> Settings:
    return msgspec.structs.replace(
        settings, rate_limits=msgspec.structs.replace(settings.rate_limits, **limits)
    )


@contextlib.asynccontextmanager
async def api(settings: Settings, resources: Resources) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(create_app(settings, resources=resources)) as client:
        yield client


async def until_429(send: Callable[[], Awaitable[httpx.Response]], most: int) -> list[int]:
    """Statuses up to and including the first 429 (a sliding window may let one
    more through when a window boundary falls inside the burst)."""
    statuses: list[int] = []
    for _ in range(most):
        statuses.append((await send()).status_code)
        if statuses[-1] == 429:
            break
    return statuses


def assert_rate_limited(response: httpx.Response, policy: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "rate_limited"
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    assert response.headers["RateLimit-Policy"] == policy
    name = policy.split(";", 1)[0]
    assert response.headers["RateLimit"] == f"{name};r=0;t={retry_after}"


@pytest.fixture
async def low(settings: Settings, resources: Resources) -> AsyncIterator[httpx.AsyncClient]:
    """The API with low limits, behind a trusted proxy on loopback (the tests'
    peer address), so that X-Forwarded-For names the client."""
    lowered = limited(
        settings,
        rate_limit_test_per_s=3,
        rate_limit_failed_auth_per_min=3,
        rate_limit_webhook_invalid_per_min=2,
        trusted_proxies=("127.0.0.0/8",),
    )
    async with api(lowered, resources) as client:
        yield client


async def test_a_key_over_its_read_budget_gets_429_while_its_writes_still_pass(
    low: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    key = await make_key(Scope.PAYMENTS_READ, Scope.PAYMENTS_WRITE)
    before = counted("gateway_rate_limited_total", {"kind": "read"})
    statuses = await until_429(lambda: low.get(ME, headers=bearer(key)), most=12)
    assert statuses[:6] == [200] * 6  # 3/s, a burst of twice that
    assert_rate_limited(await low.get(ME, headers=bearer(key)), '"read";q=6;w=2')

    headers = {**bearer(key), "Idempotency-Key": "rl-w-1"}
    write = await low.post(PURCHASE, json=charge_body(), headers=headers)
    assert write.status_code == 201, write.text
    assert counted("gateway_rate_limited_total", {"kind": "read"}) >= before + 2


async def test_a_429_leaves_the_idempotency_key_free(
    low: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    spent, fresh = await make_key(Scope.PAYMENTS_WRITE), await make_key(Scope.PAYMENTS_WRITE)

    async def purchase(key: str, idempotency_key: str, amount: int = 1500) -> httpx.Response:
        headers = {**bearer(key), "Idempotency-Key": idempotency_key}
        return await low.post(PURCHASE, json=charge_body(amount), headers=headers)

    answers: list[tuple[str, httpx.Response]] = []

    async def send() -> httpx.Response:
        idempotency_key = f"rl-spent-{len(answers)}"
        answers.append((idempotency_key, await purchase(spent, idempotency_key)))
        return answers[-1][1]

    # The refused request's own key is retried, not a later one: on a slow machine
    # the two-second window may slide between two requests.
    statuses = await until_429(send, most=10)
    assert statuses[-1] == 429
    refused_key, refused = answers[-1]
    assert_rate_limited(refused, '"write";q=6;w=2')
    # Another key of the merchant (its own budget), the same Idempotency-Key and
    # another body: a first answer, neither a replay of the 429 nor a 422 reuse.
    retried = await purchase(fresh, refused_key, amount=2500)
    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers


async def test_a_merchant_override_replaces_the_default(
    low: httpx.AsyncClient,
    merchant: Merchant,
    make_key: KeyFactory,
    db_session: AsyncSession,
    clock: FrozenClock,
) -> None:
    service = MerchantService(db_session, clock)
    with pytest.raises(ValidationFailed):
        await service.set_rate_limit(merchant.id, 0)
    await service.set_rate_limit(merchant.id, 1)
    await db_session.commit()
    key = await make_key(Scope.ADMIN)
    assert (await service.authenticate(key)).rate_limit == 1

    statuses = await until_429(lambda: low.get(ME, headers=bearer(key)), most=8)
    # 1/s (a burst of 2) where the default would have allowed 6.
    assert statuses[:2] == [200, 200]
    assert statuses[-1] == 429
    assert len(statuses) <= 4

    await service.set_rate_limit(merchant.id, None)
    await db_session.commit()
    assert (await service.authenticate(key)).rate_limit is None


async def test_failed_authentications_are_401_then_429_for_that_address(
    low: httpx.AsyncClient, admin_key: str
) -> None:
    before = counted("gateway_rate_limited_total", {"kind": "failed_auth"})
    for _ in range(3):
        assert (await low.get(ME, headers=bearer(BAD_KEY))).status_code == 401
    assert_rate_limited(await low.get(ME, headers=bearer(BAD_KEY)), '"failed_auth";q=3;w=60')
    # A right key from that address is refused too: a guess cannot be told apart.
    assert (await low.get(ME, headers=bearer(admin_key))).status_code == 429
    assert counted("gateway_rate_limited_total", {"kind": "failed_auth"}) >= before + 2


async def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(
    low: httpx.AsyncClient,
) -> None:
    def claiming(address: str) -> dict[str, str]:
        return {**bearer(BAD_KEY), "X-Forwarded-For": address}

    # From the trusted proxy (the tests' peer, 127.0.0.1): each client its own count.
    for _ in range(3):
        assert (await low.get(ME, headers=claiming("198.51.100.7"))).status_code == 401
    assert (await low.get(ME, headers=claiming("198.51.100.7"))).status_code == 429
    # The proxy appends what it saw: what a client writes on the left is not believed.
    assert (await low.get(ME, headers=claiming("10.9.9.9, 198.51.100.7"))).status_code == 429
    assert (await low.get(ME, headers=claiming("198.51.100.8"))).status_code == 401

    # From an untrusted peer the header is ignored: every claimed address is the peer.
    app = low._transport.app  # type: ignore[attr-defined]
    untrusted = httpx.ASGITransport(app=app, client=("192.0.2.50", 4000))
    async with httpx.AsyncClient(transport=untrusted, base_url="http://testserver") as client:
        for n in range(3):
            claimed = claiming(f"203.0.113.{n}")
            assert (await client.get(ME, headers=claimed)).status_code == 401
        assert (await client.get(ME, headers=claiming("203.0.113.99"))).status_code == 429


async def test_a_signed_webhook_is_never_limited_while_forged_ones_are(
    low: httpx.AsyncClient, settings: Settings
) -> None:
    keys = settings.processor.authorize_net_signature_keys
    assert keys
    before = counted("gateway_rate_limited_total", {"kind": "webhook_invalid"})

    async def post(body: bytes, signature: str) -> httpx.Response:
        headers = {"Content-Type": "application/json", "X-ANET-Signature": signature}
        return await low.post("/api/v1/webhooks/simulator", content=body, headers=headers)

    forged, bad = notification("1"), "sha512=" + "0" * 128
    assert (await post(forged, bad)).status_code == 401
    assert (await post(forged, bad)).status_code == 401
    assert_rate_limited(await post(forged, bad), '"webhook_invalid";q=2;w=60')
    for entity in ("2", "3", "4"):
        body = notification(entity)
        signed = await post(body, sign(body, keys[0]))
        assert signed.status_code == 200, signed.text
    assert counted("gateway_rate_limited_total", {"kind": "webhook_invalid"}) == before + 1


async def test_with_redis_down_requests_pass_and_the_metric_counts(
    settings: Settings, resources: Resources, simulator: Simulator, make_key: KeyFactory
) -> None:
    key = await make_key(Scope.PAYMENTS_READ, Scope.PAYMENTS_WRITE)
    unreachable = Redis(host="127.0.0.1", port=closed_port(), socket_connect_timeout=0.2)
    down = lent_resources(
        settings,
        engine=resources.engine,
        session_factory=resources.session_factory,
        redis=resources.redis,
        clock=resources.clock,
        crypto=resources.crypto,
        simulator=simulator,
        limiter_redis=unreachable,
    )
    before = counted("gateway_rate_limiter_unavailable_total")
    try:
        async with api(limited(settings, rate_limit_test_per_s=1), down) as client:
            for _ in range(5):
                assert (await client.get(ME, headers=bearer(key))).status_code == 200
            headers = {**bearer(key), "Idempotency-Key": "rl-down"}
            paid = await client.post(PURCHASE, json=charge_body(), headers=headers)
            assert paid.status_code == 201, paid.text
    finally:
        await unreachable.aclose()
        await down.processors.aclose()
    # Each request asks twice (its address's failures, its key's budget).
    assert counted("gateway_rate_limiter_unavailable_total") >= before + 12


def test_live_and_test_keys_have_their_own_defaults_and_bursts_of_twice() -> None:
    defaults = RateLimitSettings()
    live = Principal("mer_1", "Shop", "key_1", livemode=True, scopes=frozenset())
    test = Principal("mer_1", "Shop", "key_2", livemode=False, scopes=frozenset())
    assert (defaults.rate_limit_live_per_s, defaults.rate_limit_test_per_s) == (100, 25)
    assert key_policy(live, "GET", defaults).quota == 200  # 100/s over 2 s
    assert key_policy(test, "POST", defaults).quota == 50
    assert key_policy(test, "GET", defaults).kind == "read"
    assert key_policy(test, "DELETE", defaults).kind == "write"
    own = dataclasses.replace(test, rate_limit=7)
    assert key_policy(own, "GET", defaults).quota == 14
    assert defaults.rate_limit_failed_auth_per_min == 20
    assert defaults.rate_limit_webhook_invalid_per_min == 60
    assert defaults.trusted_proxies == ()
