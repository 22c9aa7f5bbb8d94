"""Field encryption (AES-256-GCM) and keyed digests (HMAC-SHA256).

DESIGN.md invariant 8. Ciphertext format, one text token per value:

    v1:<kid>:<base64url(nonce || ciphertext || tag)>

- `v1` names this format; `kid` is the id of the key that sealed it, so rows
  written before a rotation stay readable while the key ring still holds it.
- the nonce is 12 random bytes, the GCM tag 16 bytes; base64url without padding,
  and only its canonical spelling is accepted (no flipped bit goes unnoticed).
- the associated data is (format, kid, table, column, row id), so a token copied
  to another row, column or table, or relabelled with another kid, fails to open.

Random nonces bound one key to about 2**32 encryptions (NIST SP 800-38D): rotate
long before that. Nothing here logs, and no error message carries key material
or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Final, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT_VERSION: Final = "v1"
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
MIN_HMAC_KEY_BYTES: Final = 32

KID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,16}")
_KID_RULE = "1-16 characters of A-Z, a-z, 0-9, _ or -"


class DecryptionError(Exception):
    """A token that cannot be opened: malformed, altered, misplaced or of an unknown key."""


def encode_parts(*parts: str) -> bytes:
    """An unambiguous byte string of several texts: ("a", "bc") never equals ("ab", "c")."""
    encoded = bytearray()
    for part in parts:
        data = part.encode()
        encoded += len(data).to_bytes(4, "big") + data
    return bytes(encoded)


def decode_base64_key(text: str, *, what: str, minimum: int = MIN_HMAC_KEY_BYTES) -> bytes:
    """Standard base64 of at least `minimum` bytes; errors name `what`, never the text."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None
    if len(key) < minimum:
        raise ValueError(f"{what} must decode to at least {minimum} bytes, not {len(key)}")
    return key


def generate_key(kid: str | None = None) -> str:
    """A fresh `kid:base64key` entry for GATEWAY_ENCRYPTION_KEYS (put it first to use it)."""
    kid = kid or "k" + secrets.token_hex(4)
    _check_kid(kid, position=1)
    return f"{kid}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


class KeyRing:
    """The encryption keys by id; the first is active: it seals, every key opens."""

    __slots__ = ("_active", "_ciphers")

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("no encryption key given")
        self._ciphers: dict[str, AESGCM] = {}
        for position, (kid, key) in enumerate(keys, start=1):
            _check_kid(kid, position=position)
            if kid in self._ciphers:
                raise ValueError(f"key id {kid!r} appears more than once")
            if len(key) != KEY_BYTES:
                raise ValueError(
                    f"key {kid!r} must decode to exactly {KEY_BYTES} bytes, not {len(key)}"
                )
            self._ciphers[kid] = AESGCM(key)
        self._active = keys[0][0]

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Read `kid:base64key,kid:base64key` (GATEWAY_ENCRYPTION_KEYS)."""
        entries = [entry.strip() for entry in text.split(",") if entry.strip()]
        return cls([_parse_entry(entry, position) for position, entry in enumerate(entries, 1)])

    @property
    def active_kid(self) -> str:
        return self._active

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def encrypt(self, plaintext: str, *, table: str, column: str, row_id: str) -> str:
        """Seal a value under the active key, bound to its table, column and row."""
        aad = _associated_data(self._active, table, column, row_id)
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._active].encrypt(nonce, plaintext.encode(), aad)
        return f"{FORMAT_VERSION}:{self._active}:{_b64url_encode(nonce + sealed)}"

    def decrypt(self, token: str, *, table: str, column: str, row_id: str) -> str:
        """Open a token sealed for exactly this table, column and row."""
        kid, payload = _split_token(token)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise DecryptionError(f"unknown encryption key id {kid!r}")
        aad = _associated_data(kid, table, column, row_id)
        nonce, sealed = payload[:NONCE_BYTES], payload[NONCE_BYTES:]
        try:
            return cipher.decrypt(nonce, sealed, aad).decode()
        except InvalidTag:
            raise DecryptionError(
                "ciphertext was altered or does not belong to this table, column and row"
            ) from None

    def needs_rotation(self, token: str) -> bool:
        """Whether a token was sealed under a key other than the active one."""
        return key_id(token) != self._active

    def rotate(self, token: str, *, table: str, column: str, row_id: str) -> str:
        """The token re-sealed under the active key (unchanged if it already is)."""
        if not self.needs_rotation(token):
            return token
        plaintext = self.decrypt(token, table=table, column=column, row_id=row_id)
        return self.encrypt(plaintext, table=table, column=column, row_id=row_id)

    def __repr__(self) -> str:
        return f"KeyRing(active={self._active!r}, kids={self.kids!r})"


def key_id(token: str) -> str:
    """The id of the key a token was sealed with."""
    return _split_token(token)[0]


def keyed_digest(key: bytes, *parts: str) -> str:
    """HMAC-SHA256 (hex) of the parts, unambiguously joined; stable across processes."""
    _check_hmac_key(key)
    return hmac.new(key, encode_parts(*parts), hashlib.sha256).hexdigest()


class _KeyedHasher:
    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        _check_hmac_key(key)
        self._key = key

    @classmethod
    def from_setting(cls, text: str) -> Self:
        """Built from the setting's text: standard base64 of at least 32 bytes."""
        return cls(decode_base64_key(text, what="the key"))

    def digest(self, purpose: str, *parts: str) -> str:
        """A digest of parts for one purpose; other purposes never share its values."""
        return keyed_digest(self._key, purpose, *parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<key hidden>)"


class Fingerprinter(_KeyedHasher):
    """Keyed fingerprints (GATEWAY_FINGERPRINT_KEY): cards, idempotent requests."""

    __slots__ = ()

    def card(self, number: str) -> str:
        """The global fingerprint: the same card number always gives the same value;
        the expiry is left out on purpose, so a reissued card with a new expiry is
        still recognised. Never stored nor shown (issue 19): the base of `card_in_scope`."""
        return self.digest("card", number)

    def card_in_scope(self, number: str, *, merchant_id: str, livemode: bool) -> str:
        """The card fingerprint a merchant stores and sees in one mode."""
        return self.scoped_card(self.card(number), merchant_id=merchant_id, livemode=livemode)

    def scoped_card(self, global_fingerprint: str, *, merchant_id: str, livemode: bool) -> str:
        """HMAC(key(merchant, mode), global fingerprint): two merchants (or one
        merchant's two modes) cannot link a card between them, and a stored global
        fingerprint can be rewritten in place, with no card number at hand."""
        return keyed_digest(self._scope_key(merchant_id, livemode), "card", global_fingerprint)

    def _scope_key(self, merchant_id: str, livemode: bool) -> bytes:
        return _derived_scope_key(self._key, merchant_id, livemode)


# Bounded: one entry per (merchant, mode) seen lately; a purchase derived it anew
# on every card it fingerprinted.
@lru_cache(maxsize=4096)
def _derived_scope_key(key: bytes, merchant_id: str, livemode: bool) -> bytes:
    info = encode_parts("card-fingerprint-scope", merchant_id, "live" if livemode else "test")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


class BlindIndex(_KeyedHasher):
    """Equality search over encrypted columns (GATEWAY_BLIND_INDEX_KEY)."""

    __slots__ = ()

    def email(self, address: str) -> str:
        return self.digest("email", normalise_email(address))


def normalise_email(address: str) -> str:
    """The form two spellings of one address share: NFC, stripped, lower case."""
    return unicodedata.normalize("NFC", address).strip().lower()


def _parse_entry(entry: str, position: int) -> tuple[str, bytes]:
    kid, separator, encoded = entry.partition(":")
    if not separator:
        raise ValueError(f"key {position} is not written as kid:base64key")
    _check_kid(kid, position=position)
    # The exact length is KeyRing's rule; here only the encoding is checked.
    return kid, decode_base64_key(encoded, what=f"key {kid!r}", minimum=0)


def _check_kid(kid: str, *, position: int) -> None:
    # An invalid id is not echoed: it may be key material pasted in the wrong place.
    if not KID_PATTERN.fullmatch(kid):
        raise ValueError(f"key {position}: a key id must be {_KID_RULE}")


def _check_hmac_key(key: bytes) -> None:
    if len(key) < MIN_HMAC_KEY_BYTES:
        raise ValueError(f"an HMAC key must be at least {MIN_HMAC_KEY_BYTES} bytes")


def _associated_data(kid: str, table: str, column: str, row_id: str) -> bytes:
    # An empty row id means the id was left to the database: the ciphertext could
    # not be bound to its row (DESIGN.md "Traps").
    if not (table and column and row_id):
        raise ValueError("table, column and row_id must all be set")
    return encode_parts(FORMAT_VERSION, kid, table, column, row_id)


def _split_token(token: str) -> tuple[str, bytes]:
    parts = token.split(":")
    if len(parts) != 3 or parts[0] != FORMAT_VERSION:
        raise DecryptionError(f"not a {FORMAT_VERSION} ciphertext")
    _, kid, encoded = parts
    if not KID_PATTERN.fullmatch(kid):
        raise DecryptionError("malformed key id in ciphertext")
    payload = _b64url_decode(encoded)
    if payload is None or len(payload) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("malformed ciphertext")
    return kid, payload


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes | None:
    """The bytes of canonical unpadded base64url text, else None."""
    if not text.isascii():
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    # The decoder skips stray characters and ignores the unused low bits of the last
    # one: only the canonical spelling round-trips.
    return data if _b64url_encode(data) == text else None


class FieldCrypto:
    """What a repository needs to keep personal data: seal and open a column's
    value bound to its row, and the keyed digests (fingerprints, blind indexes)."""

    __slots__ = ("blind_index", "fingerprints", "keyring")

    def __init__(
        self, keyring: KeyRing, fingerprints: Fingerprinter, blind_index: BlindIndex
    ) -> None:
        self.keyring = keyring
        self.fingerprints = fingerprints
        self.blind_index = blind_index

    @classmethod
    def from_settings(
        cls, *, encryption_keys: str, fingerprint_key: str, blind_index_key: str
    ) -> FieldCrypto:
        return cls(
            KeyRing.parse(encryption_keys),
            Fingerprinter.from_setting(fingerprint_key),
            BlindIndex.from_setting(blind_index_key),
        )

    def seal(self, value: str | None, *, table: str, column: str, row_id: str) -> str | None:
        if value is None:
            return None
        return self.keyring.encrypt(value, table=table, column=column, row_id=row_id)

    def open(self, token: str | None, *, table: str, column: str, row_id: str) -> str | None:
        if token is None:
            return None
        return self.keyring.decrypt(token, table=table, column=column, row_id=row_id)

    def __repr__(self) -> str:
        return f"FieldCrypto({self.keyring!r})"
