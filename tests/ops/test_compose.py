"""ops/compose.yaml (issue 21 point 4): Debian's docker-compose 1.29 accepts it, it
has every process with health checks and start order, and its one env file gives
every secret, so no container generates secrets of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from gateway.cli.main import main as gateway_command
from gateway.core.devsecrets import with_development_secrets
from gateway.core.settings import load_settings, setting_names
from tests.ops.tools import OPS, ROOT, run, tool

COMPOSE = OPS / "compose.yaml"
GATEWAY_SERVICES = {"migrate", "api-1", "api-2", "worker", "cron", "sandbox", "dashboard"}


def env_file(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    return {name.strip(): value.strip() for name, value in pairs}


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


@pytest.mark.slow
def test_docker_compose_validates_it() -> None:
    # make ops-tools installs Debian's 1.29, the oldest this file is written for.
    run(tool("docker-compose"), "-f", str(COMPOSE), "config", "--quiet", cwd=ROOT)


def test_it_uses_nothing_1_29_refuses() -> None:
    document = yaml.safe_load(COMPOSE.read_text())
    assert "name" not in document
    for name, service in document["services"].items():
        assert "start_interval" not in service.get("healthcheck", {}), name


def test_every_process_is_there_with_a_health_check_and_its_start_order() -> None:
    services = _services()
    assert GATEWAY_SERVICES | {"postgres", "redis", "proxy", "prometheus", "grafana"} <= set(
        services
    )
    for name, service in services.items():
        if name != "migrate":
            assert "healthcheck" in service, name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api-1", "api-2", "worker", "cron"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }, name
    proxy = services["proxy"]
    assert {"api-1:8000", "api-2:8000"} <= set(proxy["command"])
    for health in ("api-1", "api-2"):
        assert proxy["depends_on"][health]["condition"] == "service_healthy"


def test_every_gateway_container_shares_one_env_file_in_development() -> None:
    services = _services()
    for name in GATEWAY_SERVICES:
        assert services[name]["env_file"] == "compose.env", name
        assert services[name]["image"] == "gateway:compose", name
        assert "environment" not in services[name], f"{name}: settings belong in compose.env"
    assert env_file(OPS / "compose.env")["GATEWAY_ENV"] == "development"


def test_the_proxy_is_the_one_trusted_proxy() -> None:
    address = _services()["proxy"]["networks"]["gateway"]["ipv4_address"]
    assert env_file(OPS / "compose.env")["GATEWAY_TRUSTED_PROXIES"] == address


def test_compose_env_gives_every_secret_and_only_real_settings() -> None:
    values = env_file(OPS / "compose.env")
    gateway_names = {name for name in values if name.startswith("GATEWAY_")}
    assert gateway_names - setting_names() == set()
    settings = load_settings(values)
    assert settings.database.url
    assert settings.redis.url
    assert settings.http.metrics_token
    # Nothing left for a container to generate (and so to disagree on).
    assert with_development_secrets(settings) == settings
    assert (OPS / "prometheus" / "metrics-token").read_text().strip() == (
        settings.http.metrics_token
    )


@pytest.mark.parametrize("name", sorted(GATEWAY_SERVICES))
def test_each_container_command_is_a_gateway_command(name: str) -> None:
    words: list[str] = list(_services()[name]["command"])
    command: click.Command = gateway_command
    while isinstance(command, click.Group) and words and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    assert not isinstance(command, click.Group), name
    command.make_context(name, words)  # raises on an unknown option
