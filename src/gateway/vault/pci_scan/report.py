"""What a scan searched and what it found."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import msgspec

from gateway.vault.pci_scan.finders import Hit, redact

# An operator reads the list; a database full of card numbers needs fixing, not paging.
MAX_HITS_KEPT: Final = 1000


class DatabaseCounts(msgspec.Struct, kw_only=True):
    """What was searched of one more database (the sandbox's)."""

    tables: int = 0
    rows: int = 0
    table_rows: dict[str, int] = msgspec.field(default_factory=dict)


class ScanReport(msgspec.Struct, kw_only=True):
    """What was searched and what was found; `tables`, `rows` and `table_rows`
    are the gateway's database."""

    tables: int = 0
    rows: int = 0
    table_rows: dict[str, int] = msgspec.field(default_factory=dict)
    sealed_values: int = 0  # encrypted columns opened and searched in the clear
    sealed_unreadable: int = 0  # sealed values no configured key opens (searched as ciphertext)
    redis_databases: list[int] = msgspec.field(default_factory=list)
    redis_keys: int = 0
    redis_values: int = 0  # strings, hash fields, list/set/zset members, stream entries
    redis_inflated: int = 0
    redis_skipped: dict[str, int] = msgspec.field(default_factory=dict)  # unreadable types
    # The sandbox's own database (`gateway sandbox serve`), when there is one to scan.
    sandbox_database: DatabaseCounts | None = None
    files: list[str] = msgspec.field(default_factory=list)
    lines: int = 0
    hit_count: int = 0
    hits: list[Hit] = msgspec.field(default_factory=list)

    def add(self, hits: Iterable[Hit], *, source: str, location: str, position: str) -> None:
        for hit in hits:
            self.hit_count += 1
            if len(self.hits) < MAX_HITS_KEPT:
                self.hits.append(
                    msgspec.structs.replace(
                        hit, source=source, location=redact(location), position=redact(position)
                    )
                )
