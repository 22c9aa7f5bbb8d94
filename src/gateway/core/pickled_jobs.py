"""Jobs pickled before the gateway serialized RQ jobs as JSON: rewritten as JSON
without being unpickled, or deleted (`gateway worker` does this as it starts).

A job's data is `(function, instance, args, kwargs)`. What the gateway enqueued
holds only a `jobs.` function's path and ids (strings, lists of strings), so it
is read with an unpickler that refuses every global (Python's "Restricting
Globals"): it can build strings, numbers, lists, tuples and dicts, and nothing
that runs code. Such a job is rewritten in place as JSON: same id, same queue or
registry, same retries left; no work is lost, none is done twice. Requeueing
rather than dropping matters because not every job comes back by itself: the
outbox re-relays only the rows whose work it can see unfinished, while routed
billing work, scheduled retries and failed jobs awaiting `gateway jobs requeue`
live only in Redis.

A pickle that names a global (a class, a function to call), or whose function
is not one of the `jobs` package, was not written by the gateway: the job is
deleted and logged, never run. Pickled `meta` and results go too (the gateway
keeps nothing in them).
"""

from __future__ import annotations

import io
import json
import pickle
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NoReturn

import structlog
from redis import Redis
from rq.job import Job

from gateway.core.queues import SERIALIZER

JOBS_PACKAGE = "jobs."
_JOB_KEYS = "rq:job:*"
_BATCH = 500
# Ids only: a job's data is tiny; anything larger is not the gateway's.
_MAX_DATA_BYTES = 64 * 1024

_log = structlog.get_logger("gateway.queues")


@dataclass
class PickledJobs:
    """What `convert_pickled_jobs` did, by job id."""

    rewritten: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> NoReturn:
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def _decompressed(raw: bytes) -> bytes:
    try:
        return zlib.decompress(raw)
    except zlib.error:
        return raw  # RQ also accepts uncompressed data


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


def _plain_job_data(data: bytes) -> list[object] | None:
    """The job data as JSON-able values, or None when the pickle is not the plain
    data of a gateway job."""
    if len(data) > _MAX_DATA_BYTES:
        return None
    try:
        loaded = _PlainDataUnpickler(io.BytesIO(data)).load()
    except Exception:  # noqa: BLE001 - a malformed pickle may raise almost anything
        return None
    if not isinstance(loaded, tuple | list) or len(loaded) != 4:
        return None
    function, instance, args, kwargs = loaded
    if not (isinstance(function, str) and function.startswith(JOBS_PACKAGE)):
        return None
    if instance is not None or not isinstance(args, tuple | list) or not isinstance(kwargs, dict):
        return None
    plain: list[object] = [function, None, list(args), kwargs]
    try:
        json.dumps(plain)
    except (TypeError, ValueError):
        return None
    return plain


def _job_keys(connection: Redis) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for key in connection.scan_iter(match=_JOB_KEYS, count=_BATCH, _type="HASH"):
        batch.append(key)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def convert_pickled_jobs(connection: Redis) -> PickledJobs:
    """Rewrite as JSON every pickled job Redis holds, or delete it (see the module)."""
    done = PickledJobs()
    for keys in _job_keys(connection):
        with connection.pipeline(transaction=False) as pipeline:
            for key in keys:
                pipeline.hmget(key, ["data", "meta", "result"])
            rows: list[list[bytes | None]] = pipeline.execute()
        for key, (raw, meta, result) in zip(keys, rows, strict=True):
            if raw is None:
                continue  # expired meanwhile, or not a job
            data = _decompressed(raw)
            if _is_json(data):
                continue
            job_id = key.decode().removeprefix("rq:job:")
            plain = _plain_job_data(data)
            if plain is None:
                Job.fetch(job_id, connection=connection, serializer=SERIALIZER).delete()
                done.deleted.append(job_id)
                _log.error("queues.pickled_job_deleted", job_id=job_id)
                continue
            with connection.pipeline() as pipeline:
                pipeline.hset(key, "data", zlib.compress(SERIALIZER.dumps(plain)))
                fields = (("meta", meta), ("result", result))
                if stale := [name for name, value in fields if value and not _is_json(value)]:
                    pipeline.hdel(key, *stale)
                pipeline.execute()
            done.rewritten.append(job_id)
    if done.rewritten or done.deleted:
        _log.warning(
            "queues.pickled_jobs_converted",
            rewritten=len(done.rewritten),
            deleted=len(done.deleted),
        )
    return done
