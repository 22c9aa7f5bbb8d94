"""Field encryption (AES-256-GCM bound to its row) and keyed digests."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.crypto import (
    KID_PATTERN,
    NONCE_BYTES,
    TAG_BYTES,
    BlindIndex,
    DecryptionError,
    Fingerprinter,
    KeyRing,
    decode_base64_key,
    generate_key,
    key_id,
    keyed_digest,
)

KEY_1 = base64.b64encode(bytes(range(32))).decode()
KEY_2 = base64.b64encode(bytes(range(32, 64))).decode()
SHORT_KEY = base64.b64encode(b"sixteen byte key").decode()
HMAC_KEY = bytes(range(32))

RING = KeyRing.parse(f"k2:{KEY_2},k1:{KEY_1}")
OLD_RING = KeyRing.parse(f"k1:{KEY_1}")
ROW = {"table": "customers", "column": "email", "row_id": "pm_01HZX0000000AAAA"}


def seal(plaintext: str = "alice@example.com", ring: KeyRing = RING) -> str:
    return ring.encrypt(plaintext, **ROW)


def payload_of(token: str) -> bytes:
    encoded = token.split(":")[2]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


def with_payload(token: str, payload: bytes) -> str:
    version, kid, _ = token.split(":")
    return f"{version}:{kid}:{base64.urlsafe_b64encode(payload).rstrip(b'=').decode()}"


def test_the_first_key_is_active_and_every_key_is_kept() -> None:
    assert RING.active_kid == "k2"
    assert RING.kids == ("k2", "k1")


def test_key_ring_text_tolerates_spaces_around_entries() -> None:
    assert KeyRing.parse(f" k2:{KEY_2} , k1:{KEY_1} ,").kids == ("k2", "k1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no encryption key given"),
        (" , ", "no encryption key given"),
        (KEY_1, "key 1 is not written as kid:base64key"),
        (f":{KEY_1}", "key 1: a key id must be 1-16 characters"),
        (f"k1:{KEY_1},bad kid:{KEY_2}", "key 2: a key id must be 1-16 characters"),
        (f"{'k' * 17}:{KEY_1}", "key 1: a key id must be 1-16 characters"),
        (f"k1:{KEY_1[:-4]}!!!=", "key 'k1' is not valid base64"),
        (f"k1:{SHORT_KEY}", "key 'k1' must decode to exactly 32 bytes, not 16"),
        ("k1:", "key 'k1' must decode to exactly 32 bytes, not 0"),
        (f"k1:{KEY_1},k1:{KEY_2}", "key id 'k1' appears more than once"),
    ],
)
def test_key_ring_parse_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message):
        KeyRing.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        f"k1:{SHORT_KEY}",
        f"k1:{KEY_1[:-4]}!!!=",
        f"k1:{KEY_1},k1:{KEY_2}",
        f"{KEY_1}:k1",  # kid and key swapped
        f"{KEY_1}",
    ],
)
def test_key_ring_parse_errors_never_show_key_material(text: str) -> None:
    with pytest.raises(ValueError, match="key") as raised:
        KeyRing.parse(text)
    for key in (KEY_1, KEY_2, SHORT_KEY, KEY_1[:-4]):
        assert key not in str(raised.value)


def test_key_ring_repr_hides_the_keys() -> None:
    assert repr(RING) == "KeyRing(active='k2', kids=('k2', 'k1'))"


@given(plaintext=st.text())
def test_invariant_8_encrypt_then_decrypt_is_the_identity(plaintext: str) -> None:
    assert RING.decrypt(seal(plaintext), **ROW) == plaintext


def test_invariant_8_ciphertext_names_its_key_id_and_format() -> None:
    token = seal()
    version, kid, encoded = token.split(":")
    assert (version, kid) == ("v1", "k2")
    assert key_id(token) == "k2"
    assert "=" not in encoded
    assert len(payload_of(token)) == NONCE_BYTES + len(b"alice@example.com") + TAG_BYTES
    assert "alice" not in token


def test_invariant_8_each_encryption_uses_a_fresh_nonce() -> None:
    first, second = seal(), seal()
    assert first != second
    assert payload_of(first)[:NONCE_BYTES] != payload_of(second)[:NONCE_BYTES]


@pytest.mark.parametrize(
    "moved_to",
    [
        {**ROW, "row_id": "pm_01HZX0000000BBBB"},
        {**ROW, "column": "holder_name"},
        {**ROW, "table": "subscriptions"},
    ],
    ids=["another-row", "another-column", "another-table"],
)
def test_invariant_8_ciphertext_moved_to_another_row_fails(moved_to: dict[str, str]) -> None:
    with pytest.raises(DecryptionError, match="does not belong"):
        RING.decrypt(seal(), **moved_to)


def test_invariant_8_binding_parts_cannot_be_shifted_between_fields() -> None:
    token = RING.encrypt("x", table="ab", column="c", row_id="r")
    with pytest.raises(DecryptionError):
        RING.decrypt(token, table="a", column="bc", row_id="r")


@given(data=st.data())
def test_invariant_8_flipping_any_bit_of_the_ciphertext_fails(data: st.DataObject) -> None:
    token = seal()
    payload = bytearray(payload_of(token))
    bit = data.draw(st.integers(min_value=0, max_value=len(payload) * 8 - 1))
    payload[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(DecryptionError):
        RING.decrypt(with_payload(token, bytes(payload)), **ROW)


@given(data=st.data())
def test_invariant_8_flipping_any_bit_of_the_token_text_fails(data: st.DataObject) -> None:
    token = seal()
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=6))
    altered = token[:position] + chr(ord(token[position]) ^ (1 << bit)) + token[position + 1 :]
    with pytest.raises(DecryptionError):
        RING.decrypt(altered, **ROW)


def test_invariant_8_a_non_canonical_spelling_of_the_same_bytes_fails() -> None:
    # 12 + 18 + 16 = 46 bytes: the last base64 character carries 4 unused bits,
    # which a lenient decoder would ignore.
    token = seal("eighteen character")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(token[-1]) ^ 1]
    respelled = token[:-1] + last
    assert payload_of(respelled) == payload_of(token)
    with pytest.raises(DecryptionError, match="malformed"):
        RING.decrypt(respelled, **ROW)


def test_invariant_8_relabelling_a_ciphertext_with_another_kid_fails() -> None:
    token = seal()
    relabelled = token.replace(":k2:", ":k1:")
    with pytest.raises(DecryptionError, match="does not belong"):
        RING.decrypt(relabelled, **ROW)


def test_an_unknown_key_id_is_named() -> None:
    token = KeyRing.parse(f"gone:{KEY_1}").encrypt("x", **ROW)
    with pytest.raises(DecryptionError, match="unknown encryption key id 'gone'"):
        RING.decrypt(token, **ROW)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "alice@example.com",
        "v1:k2",
        "v2:k2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1:k2:AAAA",  # shorter than a nonce and a tag
        "v1:k2:" + "A" * 39 + "!",
        "v1:k 2:" + "A" * 40,
        "v1:k2:" + "A" * 40 + ":extra",
        "v1:k2:" + "Ä" * 40,
    ],
)
def test_malformed_tokens_fail_cleanly(token: str) -> None:
    with pytest.raises(DecryptionError):
        RING.decrypt(token, **ROW)


@pytest.mark.parametrize("missing", ["table", "column", "row_id"])
def test_invariant_8_a_ciphertext_is_never_made_without_its_row(missing: str) -> None:
    with pytest.raises(ValueError, match="must all be set"):
        RING.encrypt("x", **{**ROW, missing: ""})


def test_invariant_8_old_rows_stay_readable_after_rotation() -> None:
    old = seal(ring=OLD_RING)
    assert RING.decrypt(old, **ROW) == "alice@example.com"
    assert RING.needs_rotation(old)
    assert not RING.needs_rotation(seal())


def test_rotate_reseals_under_the_active_key_for_the_same_row() -> None:
    old = seal(ring=OLD_RING)
    rotated = RING.rotate(old, **ROW)
    assert key_id(rotated) == "k2"
    assert RING.decrypt(rotated, **ROW) == "alice@example.com"
    assert RING.rotate(rotated, **ROW) == rotated


def test_generate_key_makes_a_fresh_valid_entry() -> None:
    first, second = generate_key(), generate_key()
    assert first != second
    ring = KeyRing.parse(f"{first},{second}")
    assert KID_PATTERN.fullmatch(ring.active_kid)
    assert generate_key("2031-q1").startswith("2031-q1:")


def test_generate_key_refuses_a_bad_kid() -> None:
    with pytest.raises(ValueError, match="key id"):
        generate_key("no:colons")


def test_keyed_digest_is_hmac_sha256_over_length_prefixed_parts() -> None:
    expected = hmac.new(HMAC_KEY, b"\0\0\0\x01a\0\0\0\x02bc", hashlib.sha256).hexdigest()
    assert keyed_digest(HMAC_KEY, "a", "bc") == expected
    assert keyed_digest(HMAC_KEY, "a", "bc") != keyed_digest(HMAC_KEY, "ab", "c")


def test_keyed_digest_depends_on_the_key() -> None:
    assert keyed_digest(HMAC_KEY, "x") != keyed_digest(bytes(32), "x")


def test_keyed_digest_refuses_a_short_key() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        keyed_digest(b"short", "x")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Fingerprinter(b"short")


def test_invariant_2_card_fingerprint_is_stable_across_processes() -> None:
    # A fixed answer: any per-process salt or change of encoding would break every
    # stored fingerprint, and this with it.
    fingerprinter = Fingerprinter.from_setting(base64.b64encode(HMAC_KEY).decode())
    assert (
        fingerprinter.card("4111111111111111")
        == "8adbb0cd2fcde9a5fe46848ab8088e9968c1a5dcd2bbc23f1f866d2e1739287d"
    )


def test_card_fingerprint_depends_on_the_number_and_key_only() -> None:
    fingerprinter = Fingerprinter(HMAC_KEY)
    assert fingerprinter.card("4111111111111111") != fingerprinter.card("4012888818888")
    assert fingerprinter.card("4111111111111111") != Fingerprinter(bytes(32)).card(
        "4111111111111111"
    )
    assert "4111111111111111" not in repr(fingerprinter)
    assert repr(fingerprinter) == "Fingerprinter(<key hidden>)"


def test_digests_of_different_purposes_never_collide() -> None:
    assert Fingerprinter(HMAC_KEY).card("x") != BlindIndex(HMAC_KEY).email("x")
    assert Fingerprinter(HMAC_KEY).card("x") != keyed_digest(HMAC_KEY, "x")


@pytest.mark.parametrize(
    "spelling", ["alice@example.com", " Alice@Example.COM ", "ALICE@EXAMPLE.COM\n"]
)
def test_blind_index_normalises_email_before_hashing(spelling: str) -> None:
    index = BlindIndex.from_setting(base64.b64encode(HMAC_KEY).decode())
    assert (
        index.email(spelling) == "310d6168be1ecb3f751d1e11e9c7971d2d20d81f4fd37012657744f8a3220d10"
    )
    assert index.email(spelling) != index.email("bob@example.com")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not base64!", "the key is not valid base64"),
        (SHORT_KEY, "the key must decode to at least 32 bytes, not 16"),
        ("", "the key must decode to at least 32 bytes, not 0"),
    ],
)
def test_hmac_key_settings_must_be_base64_of_32_bytes(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message):
        BlindIndex.from_setting(text)
    with pytest.raises(ValueError, match="^" + message):
        decode_base64_key(text, what="the key")
