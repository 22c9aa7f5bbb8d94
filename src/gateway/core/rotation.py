"""Key rotation: re-seal every sealed value under the active key, while the API runs.

DESIGN.md invariant 8. The walk covers exactly `SEALED_COLUMNS`, one table at a
time, in batches ordered by the row id (keyset, never OFFSET). Each batch is its
own short transaction and takes no lock while it reads; its UPDATE is a
compare-and-set on the ciphertexts it read, so a value the API writes meanwhile
is never overwritten: that row is counted as skipped and the next run finds it
(if it is still under an old key). Nothing is remembered between runs: rows
already under the active key are simply not selected again, which is what makes
an interrupted run resumable.

The old keys must stay in the ring until the run reports nothing left: the API
keeps opening rows of either key in the meantime.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import structlog
from sqlalchemy import (
    ColumnElement,
    Select,
    TableClause,
    Text,
    and_,
    any_,
    bindparam,
    column,
    func,
    or_,
    select,
    table,
    true,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import ReturningUpdate

from gateway.core.crypto import DecryptionError, KeyRing
from gateway.core.sealed_columns import SEALED_COLUMNS, SealedColumn

DEFAULT_BATCH_SIZE: Final = 500
_MAX_BIND_PARAMETERS: Final = 32767

_log = structlog.get_logger("gateway.rotation")


@dataclass(frozen=True)
class SealedTable:
    """The sealed columns of one table and the row-id column they are bound to."""

    name: str
    row_id: str
    columns: tuple[SealedColumn, ...]

    @cached_property
    def clause(self) -> TableClause:
        # One object per table: two TableClauses of one name would be two FROM items.
        names = dict.fromkeys([self.row_id, *(sealed.column for sealed in self.columns)])
        return table(self.name, *(column(name, Text) for name in names))


def sealed_tables(columns: Sequence[SealedColumn] = SEALED_COLUMNS) -> tuple[SealedTable, ...]:
    """The columns grouped by table, in the order the list first names each table."""
    grouped: dict[str, list[SealedColumn]] = defaultdict(list)
    for sealed in columns:
        grouped[sealed.table].append(sealed)
    tables = []
    for name, members in grouped.items():
        row_ids = {sealed.row_id for sealed in members}
        if len(row_ids) != 1:
            # The keyset walk and the compare-and-set both key a row by one column.
            raise ValueError(f"the sealed columns of {name} are bound to several row ids")
        tables.append(SealedTable(name, row_ids.pop(), tuple(members)))
    return tuple(tables)


@dataclass(frozen=True)
class StaleRow:
    """A row read by a batch: its id and the ciphertext of each sealed column."""

    row_id: str
    tokens: dict[str, str | None]  # database column -> token as read


@dataclass
class TableReport:
    table: str
    to_do: int  # counted before the walk; the API may add or change rows meanwhile
    rotated: int = 0
    skipped: int = 0  # changed by someone else between read and write
    failed: int = 0  # a value that would not open; logged by table, column and row id

    @property
    def done(self) -> int:
        return self.rotated + self.skipped + self.failed


@dataclass(frozen=True)
class RotationReport:
    active_kid: str
    tables: tuple[TableReport, ...]

    @property
    def rotated(self) -> int:
        return sum(report.rotated for report in self.tables)

    @property
    def skipped(self) -> int:
        return sum(report.skipped for report in self.tables)

    @property
    def failed(self) -> int:
        return sum(report.failed for report in self.tables)


@dataclass(frozen=True)
class Progress:
    """Sent once when a table starts (done == 0) and after each committed batch."""

    table: str
    done: int
    to_do: int


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class BatchOutcome:
    rotated: int = 0
    skipped: int = 0
    failed: int = 0


class KeyRotation:
    """Re-seal old-key values of `tables` under `keyring`'s active key."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keyring: KeyRing,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        tables: Sequence[SealedTable] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("the batch size must be at least 1")
        self._sessions = sessions
        self._keyring = keyring
        self._batch_size = batch_size
        self._tables = tuple(tables) if tables is not None else sealed_tables()

    @property
    def tables(self) -> tuple[SealedTable, ...]:
        return self._tables

    async def count_to_do(self) -> dict[str, int]:
        """Rows per table holding at least one value under another key than the active one."""
        counts = {}
        async with self._sessions() as session:
            for sealed in self._tables:
                statement = select(func.count()).select_from(sealed.clause)
                counts[sealed.name] = (
                    await session.execute(statement.where(self._stale(sealed)))
                ).scalar_one()
        return counts

    async def run(self, *, progress: ProgressCallback | None = None) -> RotationReport:
        """One pass over every table. An exception (from the database, or raised by
        `progress`) stops the run; the batches committed before it stay done."""
        counts = await self.count_to_do()
        reports = tuple(TableReport(sealed.name, counts[sealed.name]) for sealed in self._tables)
        for sealed, report in zip(self._tables, reports, strict=True):
            await self._rotate_table(sealed, report, progress)
        return RotationReport(self._keyring.active_kid, reports)

    async def _rotate_table(
        self, sealed: SealedTable, report: TableReport, progress: ProgressCallback | None
    ) -> None:
        if progress:
            progress(Progress(sealed.name, 0, report.to_do))
        after: str | None = None
        while True:
            async with self._sessions.begin() as session:
                rows = await self.select_batch(session, sealed, after=after)
                if not rows:
                    return
                outcome = await self.reseal_batch(session, sealed, rows)
            # Failed and skipped rows are passed too: the cursor never returns to them
            # in this run, so a value that will not open cannot loop the walk.
            after = rows[-1].row_id
            report.rotated += outcome.rotated
            report.skipped += outcome.skipped
            report.failed += outcome.failed
            if progress:
                progress(Progress(sealed.name, report.done, report.to_do))

    async def select_batch(
        self, session: AsyncSession, sealed: SealedTable, *, after: str | None
    ) -> list[StaleRow]:
        """The next rows after `after` (by row id) with a value under an old key."""
        statement = self.batch_query(sealed, after=after)
        rows = (await session.execute(statement)).all()
        return [
            StaleRow(
                str(row[0]),
                {sealed_column.column: row[i] for i, sealed_column in enumerate(sealed.columns, 1)},
            )
            for row in rows
        ]

    def batch_query(self, sealed: SealedTable, *, after: str | None) -> Select[Any]:
        clause = sealed.clause
        row_id = clause.c[sealed.row_id]
        statement = (
            select(row_id, *(clause.c[sealed_column.column] for sealed_column in sealed.columns))
            .where(self._stale(sealed))
            .order_by(row_id)
            .limit(self._batch_size)
        )
        return statement if after is None else statement.where(row_id > after)

    async def reseal_batch(
        self, session: AsyncSession, sealed: SealedTable, rows: Sequence[StaleRow]
    ) -> BatchOutcome:
        """Write the re-sealed values of `rows` (as read earlier) in one statement; a
        row whose ciphertexts changed since is left as it now is."""
        resealed: list[tuple[StaleRow, dict[str, str | None]]] = []
        failures: list[tuple[str, str]] = []
        for row in rows:
            new_tokens, failed_columns = self._reseal_row(sealed, row)
            failures += [(name, row.row_id) for name in failed_columns]
            if new_tokens != row.tokens:
                resealed.append((row, new_tokens))
        written: set[str] = set()
        # A statement carries at most 32767 bind parameters (PostgreSQL's wire protocol):
        # an id, an old and a new value per column for each row, and one array of ids.
        chunk = (_MAX_BIND_PARAMETERS - 1) // (1 + 2 * len(sealed.columns))
        for start in range(0, len(resealed), chunk):
            statement = self.update_query(sealed, resealed[start : start + chunk])
            written.update((await session.execute(statement)).scalars())
        failed_rows = {row_id for _, row_id in failures}
        rotated = sum(
            1 for row, _ in resealed if row.row_id in written and row.row_id not in failed_rows
        )
        return BatchOutcome(
            rotated=rotated,
            skipped=len(rows) - rotated - len(failed_rows),
            failed=len(failed_rows),
        )

    def update_query(
        self, sealed: SealedTable, resealed: Sequence[tuple[StaleRow, dict[str, str | None]]]
    ) -> ReturningUpdate[Any]:
        """UPDATE ... FROM (VALUES (id, old, new, ...)) ... RETURNING id: a row is
        written only if every sealed column still holds what the batch read."""
        clause = sealed.clause
        names = [sealed_column.column for sealed_column in sealed.columns]
        data = values(
            column("row_id", Text),
            *(column(f"{kind}_{i}", Text) for i in range(len(names)) for kind in ("old", "new")),
            name="resealed",
        ).data(
            [
                (
                    row.row_id,
                    *(token for name in names for token in (row.tokens[name], new_tokens[name])),
                )
                for row, new_tokens in resealed
            ]
        )
        unchanged = [
            clause.c[name].is_not_distinct_from(data.c[f"old_{i}"]) for i, name in enumerate(names)
        ]
        # Rows another transaction holds are left out rather than waited for: the
        # rotation never makes the API wait on it for long, and never waits itself,
        # so it cannot be half of a deadlock. Such a row is reported as skipped.
        locked = clause.alias("locked")
        lockable = (
            select(locked.c[sealed.row_id])
            .where(
                locked.c[sealed.row_id]
                == any_(bindparam("row_ids", [row.row_id for row, _ in resealed], ARRAY(Text)))
            )
            .with_for_update(skip_locked=True, key_share=True)
        )
        return (
            update(clause)
            .where(
                clause.c[sealed.row_id] == data.c.row_id,
                clause.c[sealed.row_id].in_(lockable),
                *unchanged,
            )
            .values({name: data.c[f"new_{i}"] for i, name in enumerate(names)})
            .returning(clause.c[sealed.row_id])
        )

    def _reseal_row(
        self, sealed: SealedTable, row: StaleRow
    ) -> tuple[dict[str, str | None], list[str]]:
        new_tokens = dict(row.tokens)
        failed: list[str] = []
        for sealed_column in sealed.columns:
            token = row.tokens[sealed_column.column]
            if token is None:
                continue
            try:
                new_tokens[sealed_column.column] = self._keyring.rotate(
                    token, table=sealed.name, column=sealed_column.bound_as, row_id=row.row_id
                )
            except DecryptionError as error:
                # The error names no key material or plaintext; the value is not logged.
                _log.warning(
                    "rotation.value_not_opened",
                    table=sealed.name,
                    column=sealed_column.column,
                    row_id=row.row_id,
                    reason=str(error),
                )
                failed.append(sealed_column.column)
        return new_tokens, failed

    def _stale(self, sealed: SealedTable) -> ColumnElement[bool]:
        clause = sealed.clause
        # split_part rather than LIKE 'v1:<kid>:%': a kid may hold `_`, a LIKE wildcard.
        return or_(
            *(
                and_(
                    clause.c[sealed_column.column].is_not(None),
                    func.split_part(clause.c[sealed_column.column], ":", 2)
                    != self._keyring.active_kid,
                )
                for sealed_column in sealed.columns
            )
        )


async def count_by_key(
    session: AsyncSession, tables: Sequence[SealedTable] | None = None
) -> dict[tuple[str, str], int]:
    """Rows per (table, key id): a row counts once for each key id found among its
    sealed values (so a row half rotated counts under both keys)."""
    counts: dict[tuple[str, str], int] = {}
    for sealed in tables if tables is not None else sealed_tables():
        for kid, count in (await session.execute(count_by_key_query(sealed))).all():
            counts[sealed.name, kid] = count
    return counts


def count_by_key_query(sealed: SealedTable) -> Select[str, int]:
    """One scan of the table; rows with no sealed value are not counted."""
    clause = sealed.clause
    tokens = (
        func.unnest(array([clause.c[sealed_column.column] for sealed_column in sealed.columns]))
        .table_valued("token")
        .render_derived("tokens")
    )
    kids = (
        select(func.split_part(tokens.c.token, ":", 2).label("kid"))
        .select_from(tokens)
        .where(tokens.c.token.is_not(None))
        .distinct()
        .lateral("kids")
    )
    return (
        select(kids.c.kid, func.count()).select_from(clause.join(kids, true())).group_by(kids.c.kid)
    )
