"""The chaos suite's short mode, as `make test` runs it: the real API, workers and
cron on a database of their own, about 100 operations under kills, timeouts, a
Redis restart and dropped database connections, with subscriptions renewed,
authorizations expired and orphans compensated meanwhile, then the ledger audit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.services import Services

ROOT = Path(__file__).resolve().parents[2]
SHORT_RUN = ["--operations", "100", "--seed", "1"]


def counts_of(report: str) -> dict[str, int]:
    return {
        match.group(1): int(match.group(2))
        for match in re.finditer(r"^  (\S.*?)\s{2,}(\d+)$", report, re.MULTILINE)
    }


@pytest.mark.slow
@pytest.mark.chaos
@pytest.mark.timeout(600)  # the run's own hang detector (540 s) speaks first
def test_a_short_chaos_run_leaves_both_ledgers_in_agreement(services: Services) -> None:
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "ops.chaos",
            *SHORT_RUN,
            "--database-url",
            services.postgres_admin_url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,  # a hang detector: the run takes two to four minutes here
        check=False,
    )
    report = completed.stdout
    assert completed.returncode == 0, report + completed.stderr[-4000:]
    assert report.rstrip().endswith("mismatches: 0")
    counts = counts_of(report)
    assert counts["operations"] >= 100
    assert counts["processor charges"] > 0
    # Four planned (two of the API, two of workers) plus the fault hook's; a planned
    # kill that finds its process already down (restarting) does not count.
    assert counts["kills"] >= 2
    assert counts.get("redis restart") == 1
    assert counts.get("postgres connection drop") == 1
    assert counts.get("timeouts recorded", 0) + counts.get("timeouts lost", 0) > 0
    assert counts["retries"] > 0
    assert counts["left pending"] == 0
    # The background's money movements happened under the same chaos, and the
    # audit (renewals charged at most once, sweep voids against the processor's
    # ledger) found nothing wrong with them.
    assert counts["subscriptions"] > 0
    assert counts.get("renewal charges", 0) > 0
    assert counts.get("expiry voids succeeded", 0) > 0
