"""The image cannot be built here (no registry), so its properties are checked
statically: multi-stage, locked non-dev install, non-root, one image for every
process, and a health check that fits the process the argument chose."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gateway.cli.processes import component_of_command_line

DOCKERFILE = Path(__file__).parents[1] / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def test_it_is_multi_stage_and_installs_only_locked_runtime_dependencies() -> None:
    instructions = _instructions()
    assert sum(1 for keyword, _ in instructions if keyword == "FROM") >= 2
    runs = [rest for keyword, rest in instructions if keyword == "RUN"]
    assert any("uv sync --frozen --no-dev" in run for run in runs)
    assert any(
        rest.startswith("--from=build") for keyword, rest in _final_stage() if keyword == "COPY"
    )


def test_the_final_stage_runs_as_a_non_root_user() -> None:
    users = [rest for keyword, rest in _final_stage() if keyword == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")


def test_one_image_serves_every_process_chosen_by_argument() -> None:
    final = dict(_final_stage())
    assert json.loads(final["ENTRYPOINT"]) == ["gateway"]
    assert json.loads(final["CMD"]) == ["serve"]
    assert "GATEWAY_ENV=production" in final["ENV"]


def test_the_health_check_asks_the_gateway_about_its_own_process() -> None:
    healthcheck = dict(_final_stage())["HEALTHCHECK"]
    assert healthcheck.endswith('CMD ["gateway", "healthcheck"]')


@pytest.mark.parametrize(
    ("pid1", "component"),
    [
        (["/app/.venv/bin/python", "/app/.venv/bin/gateway", "serve"], "api"),
        (["/app/.venv/bin/python", "/app/.venv/bin/gateway", "worker", "--pool", "2"], "worker"),
        (["/app/.venv/bin/python", "/app/.venv/bin/gateway", "cron"], "cron"),
        (["python", "/app/.venv/bin/gateway", "dashboard", "--host", "0.0.0.0"], "dashboard"),
        (["python", "/app/.venv/bin/gateway", "migrate"], None),
    ],
)
def test_the_health_check_recognises_each_process(pid1: list[str], component: str | None) -> None:
    assert component_of_command_line(pid1) == component
