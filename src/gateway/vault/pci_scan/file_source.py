"""The log-file source of the scan: plain or gzipped, line by line, in pieces
of bounded size."""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from gateway.vault.pci_scan.finders import find_all
from gateway.vault.pci_scan.report import ScanReport

READ_CHUNK: Final = 1024 * 1024
# A line longer than READ_CHUNK is searched in pieces that share this much text, so a
# CVV whose key ends one piece and whose value starts the next is still seen.
_OVERLAP = 256
_RUN_CHARS = frozenset("0123456789 -")


def _open_log(path: Path) -> gzip.GzipFile | io.BufferedReader:
    with path.open("rb") as probe:
        magic = probe.read(2)
    # Rotated logs are often gzipped: read them as they were written.
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")


def _safe_cut(text: str) -> int:
    """Where a piece of a long line may end: never inside a digit run."""
    cut = len(text) - _OVERLAP
    floor = max(_OVERLAP, len(text) // 2)
    while cut > floor and text[cut - 1] in _RUN_CHARS and text[cut] in _RUN_CHARS:
        cut -= 1
    return cut


def _pieces(handle: gzip.GzipFile | io.BufferedReader) -> Iterator[tuple[int, str, int]]:
    """(line number, text, how many leading characters were searched before) of
    each line; a long line comes in overlapping pieces."""
    number = 0
    carry = ""  # the unfinished line's last piece, from its overlap on
    searched = 0  # how much of `carry` its previous piece covered
    while True:
        piece = handle.readline(READ_CHUNK)
        text = carry + piece.decode("utf-8", "replace")
        # readline stops short of the limit only at a newline or the end of the file.
        if len(piece) < READ_CHUNK or piece.endswith(b"\n"):
            if text:
                number += 1
                yield number, text.rstrip("\r\n"), searched
            if not piece:
                return
            carry, searched = "", 0
            continue
        cut = _safe_cut(text)
        yield number + 1, text[:cut], searched
        keep = max(0, cut - _OVERLAP)
        carry, searched = text[keep:], cut - keep


def scan_file(path: Path, report: ScanReport, patterns: Sequence[re.Pattern[str]] = ()) -> None:
    """Every line of a log file (plain or gzipped), in bounded memory."""
    report.files.append(str(path))
    last_line = 0
    with _open_log(path) as handle:
        for number, piece, fresh in _pieces(handle):
            last_line = number
            # What starts in the overlap was reported with the previous piece.
            hits = find_all(piece, patterns, starting_at=fresh)
            if hits:
                report.add(hits, source="file", location=str(path), position=f"line {number}")
    report.lines += last_line
