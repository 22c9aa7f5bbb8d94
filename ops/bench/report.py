"""How the load suite prints: one line per measured round, its ratios, memory,
and progress on stderr."""

from __future__ import annotations

import math
import time

import click

from ops.bench.load import Result
from ops.bench.processes import MemoryWatch

MB = 1024


def ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f} ms"


def line(who: str, result: Result) -> str:
    return (
        f"  {who:<9} throughput {result.throughput:.1f}/s"
        f"  p50 {ms(result.percentile_ms(50))}"
        f"  p95 {ms(result.percentile_ms(95))}"
        f"  p99 {ms(result.percentile_ms(99))}"
        f"  errors {result.error_count}"
        f"  requests {result.requests}"
        f"  cpu {result.cpu_ms_per_request:.2f} ms/request"
        + (f" ({dict(result.errors)})" if result.errors else "")
    )


def ratio(numerator: float, denominator: float) -> str:
    if not denominator or math.isnan(numerator) or math.isnan(denominator):
        return "n/a"
    return f"{numerator / denominator:.3f}x"


_STARTED = time.monotonic()


def progress(what: str) -> None:
    """On stderr, with the time since the start: where a run spends its time."""
    click.echo(f"  [{time.monotonic() - _STARTED:6.1f} s] {what}", err=True)


def memory_lines(watch: MemoryWatch) -> list[str]:
    lines = ["[memory | peak resident set (VmHWM) over the run]"]
    for label in watch.roots:
        main = watch.peaks_kb.get(label, 0) / MB
        line = f"  {label:<15} main {main:.1f} MB"
        if watch.children.get(label):
            child = watch.peaks_kb.get(f"{label} child", 0) / MB
            line += f"  largest of {watch.children[label]} children {child:.1f} MB"
        lines.append(line)
    return lines
