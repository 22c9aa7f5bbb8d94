"""The load suite at a tiny size, as `make test` runs it: the real gateway
processes and the twin from a fresh database, every scenario for a second with
one API worker, the closed loop and two open-loop profiles, every figure line
printed and no request answered wrongly. Speed is never asserted here
(ops/bench/README.md keeps the figures). The spike's schedule and the others'
are checked without a server (test_bench_profiles.py); a second API worker
count would restart the processes, which costs the suite more than it checks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.services import Services

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"[\d.]+"
ROUNDS = (
    "purchases | max: 4 connections for 1 s | 1 API worker(s)",
    "purchases | half: ",
    "purchases | steady: 5/s for 1 s",
    "journey | steady: 5/s for 1 s",
    "webhooks | steady: 5/s for 1 s",
)
MEASURED = re.compile(
    rf"^  (twin|gateway)\s+throughput {NUMBER}/s  p50 {NUMBER} ms  p95 {NUMBER} ms"
    rf"  p99 {NUMBER} ms  errors 0  requests \d+  cpu {NUMBER} ms/request$"
)
RATIO = re.compile(rf"^  ratio\s+throughput {NUMBER}x twin  p99 {NUMBER}x twin  cpu/request ")
TARGET = re.compile(rf"^  target\s+gateway p95 {NUMBER} ms against 500 ms: (met|missed)$")
PROCESSED = re.compile(rf"^  processed \d+/\d+ events by the worker, {NUMBER} events/s")
MEMORY = re.compile(rf"^  (gateway api|gateway worker|gateway cron|twin)\s+main {NUMBER} MB")


def _blocks(report: str) -> dict[str, list[str]]:
    blocks: dict[str, list[str]] = {}
    current: list[str] = []
    for line in report.splitlines():
        if line.startswith("["):
            current = blocks.setdefault(line.strip("[]"), [])
        else:
            current.append(line)
    return blocks


@pytest.mark.slow
def test_a_tiny_load_suite_prints_every_figure_with_no_error(services: Services) -> None:
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable, "-m", "ops.bench.suite",
            "--database-url", services.postgres_admin_url,
            "--scenarios", "purchases,journey,webhooks,memory",
            "--profiles", "max,half,steady",
            "--seconds", "1", "--rate", "5",
            "--concurrency", "4", "--api-workers", "1", "--warm-up", "0.5", "--drain", "3",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # a hang detector, not a speed check
        check=False,
    )  # fmt: skip
    report = completed.stdout
    assert completed.returncode == 0, report + completed.stderr[-4000:]
    assert "errors in total: 0" in report
    blocks = _blocks(report)
    for title in ROUNDS:
        [lines] = [lines for name, lines in blocks.items() if name.startswith(title)]
        assert sum(bool(MEASURED.match(line)) for line in lines) == 2, (title, lines)
        assert any(RATIO.match(line) for line in lines), (title, lines)
        if "| max:" not in title:
            assert any(TARGET.match(line) for line in lines), (title, lines)
        if title.startswith("webhooks"):
            assert any(PROCESSED.match(line) for line in lines), (title, lines)
    [memory] = [lines for name, lines in blocks.items() if name.startswith("memory")]
    assert sum(bool(MEMORY.match(line)) for line in memory) == 4, memory
