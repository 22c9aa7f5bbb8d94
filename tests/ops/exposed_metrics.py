"""What the gateway exposes, for the checks that ops/ names only real metrics
(the dashboard, the alerts, the runbook)."""

from __future__ import annotations

import re
from typing import Final

# Added by issue 21 point 1 (metrics from every process, the worker model), which
# another change delivers: the worker helper adds these families, and once they are
# in a scrape of the test app this list can go. Kept here, in one place.
WORKER_HELPER_METRICS: Final = frozenset(
    {
        "gateway_payments_total",
        "gateway_payment_amount_minor_total",
        "gateway_processor_call_duration_seconds",
        "gateway_job_duration_seconds",
        "gateway_job_failures_total",
        "gateway_workers",
        "gateway_declines_total",
    }
)


def exposed_names(exposition: str) -> set[str]:
    """Every sample name a scrape can carry: each family's name, a counter's
    `_total`, a histogram's `_bucket`, `_sum` and `_count`."""
    names: set[str] = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)", exposition, re.MULTILINE):
        names.add(name)
        if kind == "counter":
            names.add(f"{name}_total")
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    names |= set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", exposition, re.MULTILINE))
    return names


def with_pending(names: set[str]) -> set[str]:
    """`names` plus the worker helper's families and their histogram samples."""
    pending = set(WORKER_HELPER_METRICS)
    for name in WORKER_HELPER_METRICS:
        if name.endswith("_seconds"):
            pending |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names | pending
