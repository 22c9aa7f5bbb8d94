"""`gateway up`: everything for local use in one command."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from pathlib import Path

import click
import httpx

from gateway.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    fail,
    load_settings_or_exit,
    run_in_session,
    running_servers,
)
from gateway.cli.local_sandbox import authenticates, local_sandbox_processor
from gateway.cli.supervisor import Child, Supervisor
from gateway.console.demo import ensure_dev_operator
from gateway.console.service import OperatorService
from gateway.core.devsecrets import development_operator_password
from gateway.core.embedded import Terminated, terminate_on_signals
from gateway.core.settings import Settings
from gateway.merchants.demo import ensure_demo_key
from gateway.merchants.service import MerchantService
from gateway.processors.simulator.webhooks import webhook_url
from gateway.sandbox.config import SandboxConfig, SandboxRefused, sandbox_config

DEMO_KEY_FILE = "demo_api_key"
_POLL_S = 0.2
_READY_TIMEOUT_S = 60.0


def _read_demo_key(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def _write_demo_key(path: Path, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")
    path.chmod(0o600)


def _demo_key(settings: Settings) -> str:
    path = settings.data_dir / DEMO_KEY_FILE
    stored = _read_demo_key(path)
    key = run_in_session(
        settings, lambda session, clock: ensure_demo_key(MerchantService(session, clock), stored)
    )
    if key != stored:
        _write_demo_key(path, key)
    return key


def _dev_operator(settings: Settings) -> tuple[str, str] | None:
    """The console's development operator and its password, when the console is on."""
    if not settings.console_enabled:
        return None
    password = development_operator_password(settings)
    email = run_in_session(
        settings,
        lambda session, clock: ensure_dev_operator(OperatorService(session, clock), password),
    )
    return email, password


def _console_line(settings: Settings, operator: tuple[str, str] | None) -> list[str]:
    if operator is None:
        return ["  Console    (off: GATEWAY_CONSOLE_ENABLED=false)"]
    api = f"http://{settings.http.host}:{settings.http.port}"
    return [
        f"  Console    {api}/console   (operator {operator[0]}, password {operator[1]})",
    ]


def _child_environment(settings: Settings) -> dict[str, str]:
    assert settings.database.url is not None
    assert settings.redis.url is not None
    metrics_dir = settings.data_dir / "prometheus"
    # Samples of a previous run's processes would be summed into this run's.
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    local = local_sandbox_processor(os.environ, settings)
    return {
        **os.environ,
        "DATABASE_URL": settings.database.url,
        "REDIS_URL": settings.redis.url,
        "GATEWAY_DATA_DIR": str(settings.data_dir),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        # Outside development each process would make up credentials of its own.
        "GATEWAY_SANDBOX_LOGIN_ID": settings.sandbox.login_id,
        "GATEWAY_SANDBOX_TRANSACTION_KEY": settings.sandbox.transaction_key,
        **(local.environment() if local is not None else {}),
    }


def _live_processor(settings: Settings) -> str:
    if local_sandbox_processor(os.environ, settings) is not None:
        return "the Authorize.Net connector to the sandbox above"
    processor = settings.processor
    if processor.processor == "authorize_net":
        return f"Authorize.Net at {processor.authorize_net_environment}"
    return "the simulator"


def _banner(
    settings: Settings, key: str, sandbox: SandboxConfig, operator: tuple[str, str] | None = None
) -> str:
    api = f"http://{settings.http.host}:{settings.http.port}"
    dashboard = f"http://127.0.0.1:{settings.dashboard.port}"
    key_file = settings.data_dir / DEMO_KEY_FILE
    signature_key = (settings.processor.authorize_net_signature_keys or ("(none)",))[0]
    return "\n".join(
        [
            "",
            f"  API        {api}   (reference: {api}/schema)",
            *_console_line(settings, operator),
            f"  Metrics    {api}/api/v1/metrics",
            f"  Dashboard  {dashboard}   (user {settings.dashboard.user},"
            f" password {settings.dashboard.password})",
            "  Worker     RQ worker with scheduler, all queues",
            f"  Sandbox    {sandbox.url}   (Authorize.Net-compatible, login id {sandbox.login_id})",
            f"  Live keys  {_live_processor(settings)}",
            f"  Webhooks   the simulator posts to {webhook_url(settings) or '(off)'}",
            f"             the sandbox posts to {sandbox.webhook_url or '(off)'}",
            "             signed with GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS (current key):",
            f"             {signature_key}",
            "  Cron       RQ cron scheduler (jobs/cron.py)",
            f"  Data       {settings.data_dir}",
            "",
            f"  Demo merchant test key (scope admin), kept in {key_file}:",
            f"    {key}",
            "",
            "  Try it:",
            f'    curl -s -H "Authorization: Bearer {key}" {api}/api/v1/merchants/me',
            "",
            "  Ctrl-C stops everything.",
            "",
        ]
    )


def _api_answers(settings: Settings) -> bool:
    url = f"http://{settings.http.host}:{settings.http.port}/api/v1/health/live"
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@click.command()
def up() -> None:
    """Run everything locally: PostgreSQL and Redis (embedded unless their URLs are
    set), migrations, a demo merchant and its test key, then the API, an RQ worker,
    RQ cron, the RQ dashboard and the Authorize.Net-compatible sandbox until Ctrl-C
    or SIGTERM. In development, unless GATEWAY_PROCESSOR or GATEWAY_AUTHORIZE_NET_*
    is set, live keys go through the Authorize.Net connector to that sandbox."""
    from gateway.composition.data_upgrades import upgrade_stored_data  # noqa: PLC0415
    from gateway.core.migrations import upgrade_to_head  # noqa: PLC0415 - Alembic is slow to import

    settings = load_settings_or_exit()
    if settings.is_production:
        fail(
            "`gateway up` is for local use; run serve, worker and cron separately", code=EXIT_USAGE
        )
    started = time.monotonic()
    code = EXIT_OK
    with terminate_on_signals(), running_servers(settings) as ready:
        assert ready.database.url is not None
        upgrade_to_head(ready.database.url)
        asyncio.run(upgrade_stored_data(ready))
        key = _demo_key(ready)
        operator = _dev_operator(ready)
        try:
            sandbox = sandbox_config(ready)
        except SandboxRefused as error:
            fail(f"sandbox: {error}", code=EXIT_USAGE)
        supervisor = Supervisor(
            [
                Child("api", ["serve"]),
                Child("worker", ["worker"]),
                Child("cron", ["cron"]),
                Child("dashboard", ["dashboard"]),
                Child("sandbox", ["sandbox", "serve"]),
            ],
            _child_environment(ready),
        )
        supervisor.start()
        click.echo(_banner(ready, key, sandbox, operator))
        try:
            code = _watch(supervisor, ready, sandbox, started)
        except (KeyboardInterrupt, Terminated):
            click.echo("gateway: stopping...", err=True)
        finally:
            supervisor.stop()
    sys.exit(code)


def _watch(
    supervisor: Supervisor, settings: Settings, sandbox: SandboxConfig, started: float
) -> int:
    """Block until a child exits (an error: report it and stop everything)."""
    api_ready = sandbox_ready = False
    ready = False
    while True:
        exited = supervisor.exited()
        if exited is not None:
            assert exited.process is not None
            click.echo(
                f"gateway: the {exited.name} process exited with code"
                f" {exited.process.returncode}; stopping everything",
                err=True,
            )
            return EXIT_FAILED
        if not ready:
            api_ready = api_ready or _api_answers(settings)
            sandbox_ready = sandbox_ready or authenticates(
                sandbox.url, sandbox.login_id, sandbox.transaction_key
            )
            if api_ready and sandbox_ready:
                ready = True
                click.echo(f"gateway: ready in {time.monotonic() - started:.1f}s", err=True)
        time.sleep(_POLL_S)
