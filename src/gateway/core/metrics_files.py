"""prometheus-client's multiprocess directory, kept small and read consistently.

Every process of one host (the API's granian workers, the RQ workers, cron)
writes its samples to `PROMETHEUS_MULTIPROC_DIR` in files named by its pid, and
the API's /metrics sums them. Left alone, the files of dead processes pile up
(one set per process that ever ran) and every scrape reads them all. Here the
files of processes that are gone are merged into one file per metric type
(`counter_merged.db`, ...): counters and histograms keep their totals, so
Prometheus sees no reset, and the directory holds one file set per live process.
Gauges of dead processes are dropped (what `mark_process_dead` does for the
`live*` modes; the gateway's per-process gauges are all of that kind).

Merging and reading hold one lock on the directory (`flock`), so a scrape never
sees a process's samples twice (merged and still in its file) or not at all, and
never trips on a file deleted between prometheus-client's glob and its read.

Whether a process is gone is asked of this host's kernel (`kill(pid, 0)`): the
directory is shared only by processes of one host (one container). Processes on
other hosts are scraped there.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

ENVIRONMENT: Final = "PROMETHEUS_MULTIPROC_DIR"
_LOCK_FILE: Final = ".merge.lock"
_MERGED: Final = "merged"
_SUMMED_TYPES: Final = ("counter", "histogram", "summary")


def multiprocess_directory() -> Path | None:
    value = os.environ.get(ENVIRONMENT)
    return Path(value) if value else None


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with (directory / _LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_of(path: Path) -> int | None:
    """The writer's pid from prometheus-client's file name (`counter_123.db`,
    `gauge_livesum_123.db`); None for merged files."""
    raw = path.stem.rpartition("_")[2]
    return int(raw) if raw.isdigit() else None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _merge_dead_unlocked(directory: Path) -> int:
    dead = [
        path
        for path in directory.glob("*.db")
        if (pid := _pid_of(path)) is not None and not _alive(pid)
    ]
    for typ in _SUMMED_TYPES:
        files = [path for path in dead if path.name.startswith(f"{typ}_")]
        if files:
            _add_into_merged(directory, typ, files)
    for path in dead:
        path.unlink(missing_ok=True)
    return len(dead)


def _add_into_merged(directory: Path, typ: str, files: Iterable[Path]) -> None:
    merged = directory / f"{typ}_{_MERGED}.db"
    totals: dict[str, float] = {}
    for path in ([merged] if merged.exists() else []) + list(files):
        for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(  # type: ignore[no-untyped-call]
            str(path)
        ):
            totals[key] = totals.get(key, 0.0) + value
    # Written aside, then renamed over: the merged file is always whole.
    staging = directory / f"{typ}_{_MERGED}.staging"
    staging.unlink(missing_ok=True)
    written = MmapedDict(str(staging))  # type: ignore[no-untyped-call]
    try:
        for key, value in totals.items():
            written.write_value(key, value, 0.0)  # type: ignore[no-untyped-call]
    finally:
        written.close()  # type: ignore[no-untyped-call]
    staging.replace(merged)


def merge_dead_processes(directory: Path | None = None) -> int:
    """Fold the files of processes no longer running into the merged files; how
    many files were folded. A no-op outside multiprocess mode."""
    directory = directory or multiprocess_directory()
    if directory is None or not directory.is_dir():
        return 0
    with _locked(directory):
        return _merge_dead_unlocked(directory)


class MergingCollector(MultiProcessCollector):
    """prometheus-client's multiprocess collector, merging dead processes' files
    first and reading under the directory's lock."""

    def __init__(self, directory: Path) -> None:
        super().__init__(None, path=str(directory))  # type: ignore[no-untyped-call]
        self._directory = directory

    def collect(self) -> Iterable[Metric]:
        with _locked(self._directory):
            _merge_dead_unlocked(self._directory)
            files = glob.glob(os.path.join(self._directory, "*.db"))  # noqa: PTH118, PTH207
            return list(self.merge(files, accumulate=True))  # type: ignore[no-untyped-call]
