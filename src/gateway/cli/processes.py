"""The long-running processes: API, RQ worker, RQ cron, RQ dashboard, and their
health checks; plus `migrate`."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click
import httpx
import structlog
from redis import Redis

from gateway.cli.common import EXIT_FAILED, EXIT_USAGE, fail, load_settings_or_exit, running_servers
from gateway.cli.dashboard_guard import DashboardGuard, FailedLogins, state_changing_routes
from gateway.core.embedded import process_is_running, terminate_on_signals
from gateway.core.queues import SERIALIZER, WORKER_QUEUES
from gateway.core.settings import Settings

if TYPE_CHECKING:
    from waitress.server import BaseWSGIServer, MultiSocketServer

_log = structlog.get_logger("gateway.cli")

CRON_CONFIG = "jobs.cron"


@click.command()
def migrate() -> None:
    """Apply every pending database migration and the data upgrades that need the
    application's keys (card fingerprints scoped per merchant and mode), then exit."""
    from gateway.composition.data_upgrades import upgrade_stored_data  # noqa: PLC0415
    from gateway.core.migrations import upgrade_to_head  # noqa: PLC0415 - Alembic is slow to import

    settings = load_settings_or_exit()
    with terminate_on_signals(), running_servers(settings, redis=False) as ready:
        assert ready.database.url is not None
        upgrade_to_head(ready.database.url)  # a no-op when the embedded server was just migrated
        rewritten = asyncio.run(upgrade_stored_data(ready))
    click.echo(f"migrations applied ({rewritten} rows upgraded)")


@click.command()
@click.option("--host", help="Listen address (default: GATEWAY_HOST).")
@click.option("--port", type=int, help="Listen port (default: GATEWAY_PORT).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Worker processes (default: GATEWAY_API_WORKERS: the CPUs in production, else 1).",
)
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the HTTP API under granian until Ctrl-C or SIGTERM."""
    from gateway.cli.api_server import api_server, export_for_workers  # noqa: PLC0415

    settings = load_settings_or_exit()
    with terminate_on_signals(), running_servers(settings) as ready:
        listen_host = host or ready.http.host
        listen_port = port or ready.http.port
        count = workers or ready.http.api_workers_for(ready.core.env)
        export_for_workers(ready, count)
        _log.info("api.listening", url=f"http://{listen_host}:{listen_port}", workers=count)
        api_server(ready, host=listen_host, port=listen_port, workers=count).serve()


def _sync_redis(settings: Settings) -> Redis:
    assert settings.redis.url is not None
    return Redis.from_url(settings.redis.url, socket_timeout=30, socket_connect_timeout=5)


@click.command()
@click.option("--burst", is_flag=True, help="Work until the queues are empty, then exit.")
@click.option(
    "--pool", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes."
)
@click.option(
    "--metrics-port",
    type=click.IntRange(min=1, max=65535),
    envvar="GATEWAY_WORKER_METRICS_PORT",
    help="Also serve these workers' metrics on this port (a host without the API).",
)
def worker(burst: bool, pool: int, metrics_port: int | None) -> None:
    """Run RQ workers on every queue, with RQ's scheduler (delayed retries).

    Each worker is one process that keeps its event loop, database pool, Redis
    pool and processors for its life (no fork per job). Jobs pickled by an
    earlier version are first rewritten as JSON (or deleted)."""
    from gateway.cli.worker_pool import run_workers  # noqa: PLC0415
    from gateway.core.pickled_jobs import convert_pickled_jobs  # noqa: PLC0415

    settings = load_settings_or_exit()
    with terminate_on_signals(), running_servers(settings) as ready:
        connection = _sync_redis(ready)
        convert_pickled_jobs(connection)
        _log.info("worker.starting", queues=list(WORKER_QUEUES), pool=pool, burst=burst)
        run_workers(ready, connection, pool=pool, burst=burst, metrics_port=metrics_port)


@click.command()
def cron() -> None:
    """Run RQ's cron scheduler with the jobs registered in jobs/cron.py."""
    from gateway.core.cron_scheduler import JsonCronScheduler  # noqa: PLC0415

    settings = load_settings_or_exit()
    with terminate_on_signals(), running_servers(settings) as ready:
        scheduler = JsonCronScheduler(connection=_sync_redis(ready))
        scheduler.load_config_from_file(CRON_CONFIG)
        _log.info("cron.starting", jobs=len(scheduler.get_jobs()))
        scheduler.start()  # type: ignore[no-untyped-call]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address.")
@click.option("--port", type=int, help="Listen port (default: GATEWAY_DASHBOARD_PORT).")
def dashboard(host: str, port: int | None) -> None:
    """Serve the RQ dashboard, read-only, behind HTTP basic auth
    (GATEWAY_DASHBOARD_USER/PASSWORD). Keep it on a private network."""
    settings = load_settings_or_exit()
    with terminate_on_signals(), running_servers(settings) as ready:
        listen_port = port or ready.dashboard.port
        server = dashboard_server(dashboard_app(ready), host=host, port=listen_port)
        _log.info("dashboard.listening", url=f"http://{host}:{listen_port}")
        try:
            server.run()
        finally:
            server.close()


def dashboard_app(
    settings: Settings, *, failed_logins: FailedLogins | None = None
) -> DashboardGuard:
    """rq-dashboard (a Flask app) on the configured Redis, behind `DashboardGuard`
    (`failed_logins`: a limiter of the caller's, e.g. on a clock a test moves)."""
    from rq_dashboard import web  # noqa: PLC0415
    from rq_dashboard.cli import make_flask_app  # noqa: PLC0415 - Flask is slow to import
    from rq_dashboard.web import setup_rq_connection  # noqa: PLC0415

    # No user given: rq-dashboard's own basic auth (a `!=` on the password, added
    # to a module-level blueprint) stays off; the guard does it instead.
    app = make_flask_app(None, None, None, url_prefix="")
    app.config["RQ_DASHBOARD_REDIS_URL"] = settings.redis.url
    app.config["RQ_DASHBOARD_DISABLE_DELETE"] = True
    # rq-dashboard's serializer is process-wide (its `--json` flag sets this).
    web.config.serializer = SERIALIZER
    setup_rq_connection(app)
    return DashboardGuard(
        app,
        settings=settings.dashboard,
        is_state_changing=state_changing_routes(app.url_map),
        failed_logins=failed_logins,
    )


def dashboard_server(
    app: DashboardGuard, *, host: str, port: int
) -> MultiSocketServer | BaseWSGIServer:
    """waitress, a production WSGI server, in place of Werkzeug's development one;
    few connections and short timeouts: a handful of operators use it."""
    from waitress.server import create_server  # noqa: PLC0415

    return create_server(
        app,
        host=host,
        port=port,
        threads=4,
        connection_limit=32,
        channel_timeout=30,
        max_request_header_size=16 * 1024,
        max_request_body_size=64 * 1024,
        clear_untrusted_proxy_headers=True,
    )


Component = Literal["api", "worker", "cron", "dashboard"]
_COMPONENT_OF_COMMAND: dict[str, Component] = {
    "serve": "api",
    "worker": "worker",
    "cron": "cron",
    "dashboard": "dashboard",
}


def component_of_command_line(arguments: list[str]) -> Component | None:
    """Which component a `gateway <command>` command line runs."""
    for argument in arguments:
        if argument in _COMPONENT_OF_COMMAND:
            return _COMPONENT_OF_COMMAND[argument]
    return None


def _component_of_container() -> Component | None:
    # In a container the process chosen by the image's argument is PID 1.
    try:
        raw = Path("/proc/1/cmdline").read_bytes()
    except OSError:
        return None
    return component_of_command_line([part.decode() for part in raw.split(b"\0") if part])


@click.command()
@click.argument(
    "component", type=click.Choice(["api", "worker", "cron", "dashboard"]), required=False
)
def healthcheck(component: Component | None) -> None:
    """Exit 0 when COMPONENT on this host is alive (container health checks).

    api and dashboard: answer on their port. worker and cron: a process of this
    host is registered in Redis and still running. Without COMPONENT, the one
    PID 1 runs (the container's own process).
    """
    settings = load_settings_or_exit()
    component = component or _component_of_container()
    if component is None:
        fail("name the component: api, worker, cron or dashboard", code=EXIT_USAGE)
    if component in ("api", "dashboard"):
        port = settings.http.port if component == "api" else settings.dashboard.port
        path = "/api/v1/health/live" if component == "api" else "/"
        try:
            response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=3)
        except httpx.HTTPError as error:
            fail(f"{component} does not answer: {error}", code=EXIT_FAILED)
        if component == "api" and response.status_code != 200:
            fail(f"api answered {response.status_code}", code=EXIT_FAILED)
        return
    if settings.redis.url is None:
        fail("REDIS_URL is not set", code=EXIT_FAILED)
    registered: Literal["worker", "cron"] = "worker" if component == "worker" else "cron"
    if not _registered_here(registered, _sync_redis(settings)):
        fail(f"no live {component} of this host is registered in Redis", code=EXIT_FAILED)


def _registered_here(component: Literal["worker", "cron"], connection: Redis) -> bool:
    from rq import Worker  # noqa: PLC0415
    from rq.cron import CronScheduler  # noqa: PLC0415

    hostname = socket.gethostname()
    members: list[tuple[str | None, int | None]] = (
        [(w.hostname, w.pid) for w in Worker.all(connection=connection, serializer=SERIALIZER)]
        if component == "worker"
        else [(s.hostname, s.pid) for s in CronScheduler.all(connection)]
    )
    return any(
        host == hostname and pid is not None and process_is_running(pid) for host, pid in members
    )
