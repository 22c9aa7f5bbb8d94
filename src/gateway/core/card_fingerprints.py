"""Which card fingerprint a row holds, and the one it shows (issue 19).

Rows written before card fingerprints were scoped per merchant and mode hold the
global fingerprint (version 1); `gateway migrate` rewrites them in place
(gateway.vault.fingerprint_upgrade). Until it has, a row is scoped as it is read,
so an answer never shows a fingerprint another merchant could match.
"""

from __future__ import annotations

from typing import Final, Protocol

from gateway.core.crypto import Fingerprinter

GLOBAL: Final = 1
SCOPED: Final = 2


class CardRow(Protocol):
    @property
    def merchant_id(self) -> str: ...
    @property
    def livemode(self) -> bool: ...
    @property
    def card_fingerprint(self) -> str | None: ...
    @property
    def card_fingerprint_version(self) -> int: ...


def shown_fingerprint(fingerprints: Fingerprinter, row: CardRow) -> str | None:
    """The row's fingerprint scoped to its merchant and mode, whatever its version."""
    if row.card_fingerprint is None or row.card_fingerprint_version == SCOPED:
        return row.card_fingerprint
    return fingerprints.scoped_card(
        row.card_fingerprint, merchant_id=row.merchant_id, livemode=row.livemode
    )
