"""The PCI scan: search what the gateway wrote for card numbers and CVVs.

DESIGN.md invariant 2 says no card number or CVV ever reaches PostgreSQL, Redis,
an RQ payload or a log line; `gateway pci-scan` is the check an operator (or CI)
runs to prove it.

- `finders`: what counts as a card number or a CVV in a text (pure; the rules
  are in its docstring), and how hits are masked.
- `decoders`: how a stored value is opened before it is searched (zlib/gzip,
  base64, pickle).
- `database_source`, `redis_source`, `file_source`: where the scan reads
  (database rows and sealed columns, the sandbox's database, Redis keys and
  values, log files).
- `report`: what a scan searched and found.
"""

from gateway.core.card_numbers import KNOWN_TEST_CARDS, MAX_DIGITS, MIN_DIGITS, mask_number
from gateway.vault.pci_scan.database_source import (
    ROW_BATCH,
    Catalogue,
    read_catalogue,
    scan_connection,
    scan_database,
)
from gateway.vault.pci_scan.decoders import MAX_INFLATED_BYTES, LayerCounts, scan_bytes
from gateway.vault.pci_scan.file_source import READ_CHUNK, scan_file
from gateway.vault.pci_scan.finders import (
    Hit,
    HitKind,
    compile_patterns,
    find_all,
    find_card_numbers,
    find_cvvs,
    redact,
)
from gateway.vault.pci_scan.redis_source import (
    REDIS_BATCH,
    redis_databases,
    redis_url_for_db,
    scan_redis,
    scan_redis_client,
    scan_redis_database,
)
from gateway.vault.pci_scan.report import MAX_HITS_KEPT, DatabaseCounts, ScanReport

__all__ = [
    "KNOWN_TEST_CARDS",
    "MAX_DIGITS",
    "MAX_HITS_KEPT",
    "MAX_INFLATED_BYTES",
    "MIN_DIGITS",
    "READ_CHUNK",
    "REDIS_BATCH",
    "ROW_BATCH",
    "Catalogue",
    "DatabaseCounts",
    "Hit",
    "HitKind",
    "LayerCounts",
    "ScanReport",
    "compile_patterns",
    "find_all",
    "find_card_numbers",
    "find_cvvs",
    "mask_number",
    "read_catalogue",
    "redact",
    "redis_databases",
    "redis_url_for_db",
    "scan_bytes",
    "scan_connection",
    "scan_database",
    "scan_file",
    "scan_redis",
    "scan_redis_client",
    "scan_redis_database",
]
