"""The signature check on its own (ANET.md §6): the raw bytes, the key text as
ASCII, any configured key, hex and prefix in either case, constant-time."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from gateway.webhooks.signature import sign, verify

KEY = "A1B2C3D4E5F6" * 10 + "0F1E2D3C"  # 128 hex characters, as Authorize.Net shows one
OLD_KEY = "9" * 128
BODY = (
    b'{"notificationId":"d0e8e7fe-c3e7-4add-a480-27bc5ce28a18",'
    b'"eventType":"net.authorize.payment.authcapture.created",'
    b'"eventDate":"2026-01-15T12:00:00.1234567Z","webhookId":"w-1",'
    b'"payload":{"responseCode":1,"authCode":"LZ6I19","avsResponse":"Y",'
    b'"authAmount":10.00,"entityName":"transaction","id":"60019392075"}}'
)


def hmac_hex(body: bytes, key: bytes) -> str:
    return hmac.new(key, body, hashlib.sha512).hexdigest()


def test_a_body_signed_with_the_key_text_verifies() -> None:
    header = f"sha512={hmac_hex(BODY, KEY.encode('ascii')).upper()}"
    assert sign(BODY, KEY) == header
    assert verify(BODY, header, [KEY])


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(lambda digest: f"sha512={digest.upper()}", id="upper-case hex"),
        pytest.param(lambda digest: f"sha512={digest.lower()}", id="lower-case hex"),
        pytest.param(lambda digest: f"SHA512={digest.upper()}", id="upper-case prefix"),
        pytest.param(lambda digest: f"Sha512={digest.lower()}", id="mixed-case prefix"),
    ],
)
def test_hex_and_prefix_are_compared_case_insensitively(header: object) -> None:
    digest = hmac_hex(BODY, KEY.encode())
    assert callable(header)
    assert verify(BODY, header(digest), [KEY])


def test_a_tampered_body_fails() -> None:
    header = sign(BODY, KEY)
    assert not verify(BODY.replace(b"10.00", b"99.00"), header, [KEY])
    assert not verify(BODY + b" ", header, [KEY])


def test_re_serialised_json_fails() -> None:
    """Parsing then dumping loses `10.00` (→ 10.0) and the spacing: hash the raw bytes."""
    header = sign(BODY, KEY)
    reserialised = json.dumps(json.loads(BODY)).encode()
    assert reserialised != BODY
    assert not verify(reserialised, header, [KEY])


def test_a_wrong_key_fails() -> None:
    assert not verify(BODY, sign(BODY, OLD_KEY), [KEY])


def test_the_key_is_neither_hex_decoded_nor_case_folded() -> None:
    decoded = f"sha512={hmac_hex(BODY, bytes.fromhex(KEY))}"
    lowered = f"sha512={hmac_hex(BODY, KEY.lower().encode())}"
    assert not verify(BODY, decoded, [KEY])
    assert not verify(BODY, lowered, [KEY])


def test_every_configured_key_is_accepted_during_a_rotation() -> None:
    assert verify(BODY, sign(BODY, OLD_KEY), [KEY, OLD_KEY])
    assert verify(BODY, sign(BODY, KEY), [KEY, OLD_KEY])


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=" + "a" * 128,  # wrong prefix
        "md5=" + "a" * 128,
        "sha512",  # no digest
        "sha512=",  # empty digest
        "sha512=" + "z" * 128,  # not hex
        "sha512=" + "a" * 64,  # too short
    ],
)
def test_missing_or_malformed_headers_fail(header: str | None) -> None:
    assert not verify(BODY, header, [KEY])


def test_the_right_digest_under_a_wrong_prefix_fails() -> None:
    digest = hmac_hex(BODY, KEY.encode())
    assert not verify(BODY, f"sha256={digest}", [KEY])
    assert not verify(BODY, digest, [KEY])


def test_no_configured_key_accepts_nothing() -> None:
    assert not verify(BODY, sign(BODY, KEY), [])
