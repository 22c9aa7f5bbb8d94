"""The billing benchmark at a tiny size, as `make test` runs it: it seeds, bills
through the real worker pool and the simulator, prints its figures and proves
that each subscription was billed exactly once. Speed is never asserted here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.services import Services

ROOT = Path(__file__).resolve().parents[2]
FIGURES = (
    "total time",
    "subscriptions/s",
    "charge latency p50",
    "charge latency p99",
    "raw-SQL baseline",
    "gateway time / baseline time",
)


@pytest.mark.slow
def test_a_small_billing_benchmark_prints_its_figures_and_bills_each_once(
    services: Services,
) -> None:
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable, "-m", "ops.bench.billing", "--n", "40", "--workers", "2",
            "--database-url", services.postgres_admin_url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # a hang detector, not a speed check
        check=False,
    )  # fmt: skip
    report = completed.stdout
    assert completed.returncode == 0, report + completed.stderr[-4000:]
    assert report.startswith("billing benchmark: 40 subscriptions due, 2 non-forking workers")
    for figure in FIGURES:
        assert re.search(rf"^  {re.escape(figure)}\s+\d", report, re.MULTILINE), figure
    assert "EXACTLY-ONCE FAILED" not in report
    assert "verified: each of 40 subscriptions has exactly one invoice (paid)" in report
