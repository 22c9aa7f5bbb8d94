"""The chaos suite's fault hook: parsed strictly, refused in production, and when
it fires, a real SIGKILL."""

from __future__ import annotations

import random
import signal
import subprocess
import sys

import pytest

from gateway.core.faults import FaultPoint, FaultPoints
from gateway.core.setting_types import SettingsError
from gateway.core.settings import load_settings


def test_points_and_probabilities_are_parsed() -> None:
    faults = FaultPoints.parse("after_processor_call=0.25, before_final_commit=1")
    assert dict(faults.probabilities) == {
        FaultPoint.AFTER_PROCESSOR_CALL: 0.25,
        FaultPoint.BEFORE_FINAL_COMMIT: 1.0,
    }
    assert faults.enabled
    assert not FaultPoints.parse("").enabled
    assert not FaultPoints.parse("after_reserve=0").enabled


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("after_lunch=0.5", "unknown fault point 'after_lunch'"),
        ("after_reserve", "after_reserve: expected a probability from 0 to 1"),
        ("after_reserve=often", "after_reserve: expected a probability from 0 to 1"),
        ("after_reserve=1.5", "after_reserve: expected a probability from 0 to 1"),
    ],
)
def test_a_bad_specification_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultPoints.parse(text)
    with pytest.raises(SettingsError, match=f"GATEWAY_FAULT_INJECTION: {message}"):
        load_settings({"GATEWAY_FAULT_INJECTION": text})


def test_production_never_injects_faults() -> None:
    with pytest.raises(SettingsError, match="GATEWAY_FAULT_INJECTION: never allowed"):
        load_settings({"GATEWAY_ENV": "production", "GATEWAY_FAULT_INJECTION": "after_reserve=0"})


def test_a_point_fires_at_its_rate_and_others_never() -> None:
    fired: list[str] = []
    faults = FaultPoints(
        {FaultPoint.AFTER_RESERVE: 0.5},
        rng=random.Random(7),
        kill=lambda: fired.append("kill"),
    )
    for _ in range(1000):
        faults.reach(FaultPoint.AFTER_RESERVE)
        faults.reach(FaultPoint.BEFORE_FINAL_COMMIT)
    assert 400 < len(fired) < 600


def test_firing_is_a_real_sigkill() -> None:
    script = (
        "from gateway.core.faults import FaultPoint, FaultPoints\n"
        "FaultPoints.parse('after_processor_call=1').reach(FaultPoint.AFTER_PROCESSOR_CALL)\n"
        "print('survived')\n"
    )
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == -signal.SIGKILL
    assert "survived" not in completed.stdout
