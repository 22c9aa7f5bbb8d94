"""Our deliveries' signatures, checked by `standardwebhooks` (an implementation
of the Standard Webhooks spec that no one here wrote), including during a
secret rotation, when two signatures travel in one header."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.webhooks.outbound.signing import (
    ROTATION_OVERLAP,
    InvalidSecret,
    SigningSecrets,
    new_secret,
    secret_key,
    signed_headers,
)

EVENT_ID = "evt_0000000000000001"
BODY = json.dumps(
    {"id": EVENT_ID, "type": "payment.captured", "sequence": 2, "data": {"object": {}}}
).encode()


def _now() -> datetime:
    # standardwebhooks refuses a timestamp more than five minutes from its own clock.
    return datetime.now(UTC)


def test_a_new_secret_is_whsec_and_the_standard_base64_of_24_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24
    assert new_secret() != secret


def test_standardwebhooks_verifies_a_delivery_signed_with_the_current_secret() -> None:
    secret = new_secret()
    headers = signed_headers(EVENT_ID, BODY, (secret,), at=_now())
    assert headers["webhook-id"] == EVENT_ID
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_a_changed_body_or_another_secret_fails_verification() -> None:
    secret = new_secret()
    headers = signed_headers(EVENT_ID, BODY, (secret,), at=_now())
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"captured", b"refunded"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_during_a_rotation_both_secrets_verify_then_only_the_new_one() -> None:
    old, new = new_secret(), new_secret()
    now = _now()
    rotated = SigningSecrets(current=old).rotated(new, now=now)

    during = signed_headers(EVENT_ID, BODY, rotated.at(now), at=now)
    assert len(during["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(BODY, during)
    Webhook(new).verify(BODY, during)

    later = now + ROTATION_OVERLAP
    assert rotated.at(later) == (new,)
    after = signed_headers(EVENT_ID, BODY, rotated.at(later), at=now)
    Webhook(new).verify(BODY, after)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(BODY, after)


def test_each_attempt_is_signed_afresh_with_the_same_webhook_id() -> None:
    secret = new_secret()
    now = _now()
    first = signed_headers(EVENT_ID, BODY, (secret,), at=now - timedelta(seconds=30))
    second = signed_headers(EVENT_ID, BODY, (secret,), at=now)
    assert first["webhook-id"] == second["webhook-id"] == EVENT_ID
    assert first["webhook-timestamp"] != second["webhook-timestamp"]
    assert first["webhook-signature"] != second["webhook-signature"]
    Webhook(secret).verify(BODY, second)


@pytest.mark.parametrize(
    "secret",
    ["abc", "whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode()],
)
def test_a_malformed_secret_is_refused(secret: str) -> None:
    with pytest.raises(InvalidSecret):
        secret_key(secret)


def test_no_secret_is_shown_by_the_secrets_repr() -> None:
    old, new = new_secret(), new_secret()
    rotated = SigningSecrets(current=old).rotated(new, now=_now())
    assert old not in repr(rotated)
    assert new not in repr(rotated)
