"""`gateway crypto ...`: encryption key management."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import Any, Final, TextIO

import click
import msgspec

from gateway.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    emit,
    fail,
    json_option,
    load_settings_or_exit,
    running_servers,
    table,
)
from gateway.composition.process import command_sessions
from gateway.composition.resources import MissingServerError, field_crypto
from gateway.core.crypto import KeyRing, generate_key
from gateway.core.rotation import (
    DEFAULT_BATCH_SIZE,
    KeyRotation,
    Progress,
    RotationReport,
    count_by_key,
    sealed_tables,
)
from gateway.core.settings import Settings

# Without a terminal, a long table still shows it is moving, without a line per batch.
_PLAIN_PROGRESS_EVERY_S: Final = 10.0


@click.group()
def crypto() -> None:
    """Manage the field-encryption keys (GATEWAY_ENCRYPTION_KEYS)."""


@crypto.command("generate-key")
@click.option("--kid", help="The key id (default: a random one).")
def generate(kid: str | None) -> None:
    """Print a new `kid:base64key` entry. Put it first in GATEWAY_ENCRYPTION_KEYS to
    make it the active key; keep the old entries so existing rows stay readable."""
    try:
        click.echo(generate_key(kid))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--kid") from None


class TableCounts(msgspec.Struct):
    table: str
    to_do: int
    rotated: int
    skipped: int
    failed: int


class KeyCount(msgspec.Struct):
    table: str
    key_id: str
    rows: int


class RotationView(msgspec.Struct):
    active_key_id: str
    rotated: int
    skipped: int
    failed: int
    tables: list[TableCounts]
    keys: list[KeyCount]  # after the run


@crypto.command("rotate")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Rows re-sealed per transaction.",
)
@json_option
def rotate(batch_size: int, as_json: bool) -> None:
    """Re-seal every encrypted value not under the active key (the first entry of
    GATEWAY_ENCRYPTION_KEYS), table by table, in short transactions, while the
    API keeps serving: keep the old keys in the ring until this reports nothing
    left under them. Safe to interrupt and run again: it finds what is left.

    Exits 1 when a value would not open (tampered, moved, or sealed under a key
    that is no longer in the ring): each is logged by table, column and row id.
    """
    settings = load_settings_or_exit()
    try:
        keyring = field_crypto(settings).keyring
    except MissingServerError as error:
        fail(str(error), code=EXIT_USAGE)
    with running_servers(settings, redis=False) as ready:
        display = _ProgressDisplay(sys.stderr)
        try:
            report, by_key = asyncio.run(_rotate(ready, keyring, batch_size, display))
        except BaseException:
            display.close(stopped=True)
            raise
    view = _view(report, by_key, keyring)
    emit(view, as_json=as_json, human=lambda: _human(view))
    if report.failed:
        sys.exit(EXIT_FAILED)


async def _rotate(
    settings: Settings, keyring: KeyRing, batch_size: int, display: _ProgressDisplay
) -> tuple[RotationReport, dict[tuple[str, str], int]]:
    async with command_sessions(settings) as sessions:
        report = await KeyRotation(sessions, keyring, batch_size=batch_size).run(progress=display)
        display.close()
        async with sessions() as session:
            by_key = await count_by_key(session)
        return report, by_key


class _ProgressDisplay:
    """A progress bar per table on a terminal; plain lines otherwise (logs, pipes)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._interactive = stream.isatty()
        self._bars = contextlib.ExitStack()
        self._bar: Any = None  # click's ProgressBar is not public API to annotate
        self._current: Progress | None = None
        self._last_line_at = 0.0

    def __call__(self, progress: Progress) -> None:
        if self._current is None or self._current.table != progress.table:
            self.close()
            self._start(progress)
        elif self._bar is not None:
            self._bar.update(progress.done - self._current.done)
        elif time.monotonic() - self._last_line_at >= _PLAIN_PROGRESS_EVERY_S:
            self._line(f"{progress.table}: {progress.done}/{progress.to_do} rows")
        self._current = progress

    def close(self, *, stopped: bool = False) -> None:
        """End the current table's bar or line (no-op when none is open)."""
        current, self._current = self._current, None
        if current is None:
            return
        self._bar = None
        self._bars.close()
        if stopped:
            self._line(
                f"{current.table}: stopped at {current.done}/{current.to_do} rows;"
                " what was done is kept, run again to finish"
            )
        elif (current.done or current.to_do) and not self._interactive:
            self._line(f"{current.table}: {current.done}/{current.to_do} rows, done")

    def _start(self, progress: Progress) -> None:
        if not self._interactive or not progress.to_do:
            self._line(
                f"{progress.table}: {progress.to_do} rows to rotate"
                if progress.to_do
                else f"{progress.table}: nothing to rotate"
            )
            return
        self._bar = self._bars.enter_context(
            click.progressbar(
                length=progress.to_do,
                label=f"{progress.table:<18}",
                file=self._stream,
                show_pos=True,
            )
        )

    def _line(self, text: str) -> None:
        self._last_line_at = time.monotonic()
        click.echo(text, file=self._stream)


def _view(
    report: RotationReport, by_key: dict[tuple[str, str], int], keyring: KeyRing
) -> RotationView:
    # Every key of the ring is listed for every table, 0 included: "0 rows under
    # the old key" is what tells the operator it may be removed.
    keys = {(sealed.name, kid): 0 for sealed in sealed_tables() for kid in keyring.kids}
    keys |= by_key
    return RotationView(
        active_key_id=report.active_kid,
        rotated=report.rotated,
        skipped=report.skipped,
        failed=report.failed,
        tables=[
            TableCounts(entry.table, entry.to_do, entry.rotated, entry.skipped, entry.failed)
            for entry in report.tables
        ],
        keys=[KeyCount(name, kid, rows) for (name, kid), rows in sorted(keys.items())],
    )


def _human(view: RotationView) -> str:
    per_table = table(
        [
            (t.table, str(t.to_do), str(t.rotated), str(t.skipped), str(t.failed))
            for t in view.tables
        ],
        ("TABLE", "TO DO", "ROTATED", "SKIPPED", "FAILED"),
    )
    per_key = table(
        [
            (
                k.table,
                k.key_id + (" (active)" if k.key_id == view.active_key_id else ""),
                str(k.rows),
            )
            for k in view.keys
        ],
        ("TABLE", "KEY ID", "ROWS"),
    )
    lines = [per_table, "", "rows per key id now:", per_key]
    if view.skipped:
        lines += ["", f"rows changed while being rotated: {view.skipped}; run again to finish."]
    if view.failed:
        lines += [
            "",
            f"rows with a value that would not open: {view.failed} (logged by table, column"
            " and row id); they are left as they are.",
        ]
    return "\n".join(lines)
