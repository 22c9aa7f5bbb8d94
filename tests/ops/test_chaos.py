"""The chaos suite's short mode, as `make test` runs it: the real API, workers and
cron on a database of their own, about 100 operations under kills, timeouts, a
Redis restart and dropped database connections, with subscriptions renewed,
authorizations expired and orphans compensated meanwhile, then the ledger audit.
And a shorter run over the wire: live keys, the Authorize.Net connector and
`gateway sandbox serve`, audited against the sandbox's ledger."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.services import Services

ROOT = Path(__file__).resolve().parents[2]
SHORT_RUN = ["--operations", "100", "--seed", "1"]
# Fewer operations (so one kill of each kind, a connection drop and a sandbox
# restart, no Redis restart: see `Plan.for_operations`), four merchants at once,
# one worker, and merchants who stop waiting sooner (the final reconciliation
# decides what they left pending).
WIRE_RUN = [
    "--processor", "authorize_net", "--operations", "20", "--concurrency", "4",
    "--workers", "1", "--give-up-s", "20", "--seed", "1",
]  # fmt: skip


def counts_of(report: str) -> dict[str, int]:
    return {
        match.group(1): int(match.group(2))
        for match in re.finditer(r"^  (\S.*?)\s{2,}(\d+)$", report, re.MULTILINE)
    }


def run_chaos(services: Services, arguments: list[str]) -> str:
    """The run's report, once it found both ledgers in agreement."""
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "ops.chaos",
            *arguments,
            "--database-url",
            services.postgres_admin_url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,  # a hang detector: a short run takes one to four minutes here
        check=False,
    )
    report = completed.stdout
    assert completed.returncode == 0, report + completed.stderr[-4000:]
    assert report.rstrip().endswith("mismatches: 0")
    return report


@pytest.mark.slow
@pytest.mark.chaos
@pytest.mark.timeout(600)  # the run's own hang detector (540 s) speaks first
def test_a_short_chaos_run_leaves_both_ledgers_in_agreement(services: Services) -> None:
    counts = counts_of(run_chaos(services, SHORT_RUN))
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


@pytest.mark.slow
@pytest.mark.chaos
@pytest.mark.timeout(600)
def test_a_short_run_over_the_wire_agrees_with_the_sandboxs_ledger(services: Services) -> None:
    report = run_chaos(services, WIRE_RUN)
    counts = counts_of(report)
    assert counts["operations"] >= 20
    # The audit read the sandbox's ledger: the gateway's own simulator tables stay
    # empty with live keys, so every processor charge counted is the sandbox's.
    assert counts["sandbox ledger rows audited"] > 0
    assert counts["processor charges"] > 0
    assert counts.get("sandbox restart") == 1
    # One planned of the API and one of a worker, plus the fault hook's; a planned
    # kill that finds its process already down does not count.
    assert counts["kills"] >= 1
    assert counts.get("postgres connection drop") == 1
    assert counts.get("timeouts recorded", 0) + counts.get("timeouts lost", 0) > 0
    assert counts["left pending"] == 0
    assert "note: live keys: no test clocks" in report
    assert "test clocks advanced" not in counts
