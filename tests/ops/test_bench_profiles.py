"""The load suite's open-loop schedules (ops/bench/load.py), without a server: the
tiny suite in test_bench_smoke.py runs one rate profile end to end, these check
that every profile sends what it names, when it says."""

from __future__ import annotations

import itertools

import pytest

from ops.bench.load import spike, steady


def test_steady_sends_its_rate_evenly() -> None:
    arrivals = steady(17, 60).arrivals()
    assert len(arrivals) == 17 * 60
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(arrivals)}
    assert gaps == {round(1 / 17, 6)}


def test_a_spike_ramps_from_nothing_to_its_peak_then_holds_it() -> None:
    profile = spike(200, 10, 60)
    arrivals = profile.arrivals()
    # The ramp's area (200/s * 10 s / 2) and then the hold (200/s * 60 s).
    assert len(arrivals) == pytest.approx(1000 + 12_000, abs=1)
    assert arrivals == sorted(arrivals)
    assert arrivals[0] > 0
    assert arrivals[-1] <= profile.seconds
    ramp = [at for at in arrivals if at < 10]
    first_second = sum(at < 1 for at in ramp)
    last_second = sum(at >= 9 for at in ramp)
    assert first_second < 20 < last_second, "ever denser up the ramp"
    held = [at for at in arrivals if 30 <= at < 40]
    assert len(held) == pytest.approx(2000, abs=1)
    assert profile.describe() == "0->200/s in 10 s, then 200/s for 60 s"
