"""A chaos run over the wire (`--processor authorize_net`): live keys, and the
Authorize.Net connector posting to `gateway sandbox serve`, a process of the
run on a free port with a database of its own. The sandbox posts its webhooks
to the API under test and is killed and started again like the gateway's own
processes; settlement is its batch, then the gateway's reading of it."""

from __future__ import annotations

import contextlib
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import httpx

from gateway.cli.supervisor import Child
from ops.chaos.servers import ChaosDatabase, free_port, sibling_database
from ops.chaos.waits import EVENTS_IN_FLIGHT, Counting, counting, summed

SANDBOX: Final = "sandbox"
WEBHOOK_PATH: Final = "/api/v1/webhooks/authorize-net"
# What live keys cannot do, left out of the traffic (API.md: test-clock routes
# and `test_clock_id` are 403 for live keys; `simulator script` is test mode).
LIVE_LIMITS: Final = (
    "live keys: no test clocks (403) and no simulator scripts;"
    " subscriptions on test clocks are left out of the traffic, so no renewal is charged"
    " (wall-clock first charges by the billing tick still are)"
)
# The sandbox's notifications the poster will still try within the run: never
# tried yet, or due again. One that failed (the API was down) waits Authorize.Net's
# retry schedule, minutes at least: reported, not waited for.
_DELIVERIES = """
    FROM simulator_webhooks w
    LEFT JOIN sandbox_webhook_deliveries d ON d.notification_id = w.id
    WHERE w.delivered_at IS NULL AND d.gave_up_at IS NULL
"""
SANDBOX_WEBHOOKS_DUE = (
    f"SELECT count(*) {_DELIVERIES} AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= now())"
)
SANDBOX_WEBHOOKS_RETRYING = f"SELECT count(*) {_DELIVERIES} AND d.next_attempt_at > now()"


@dataclass(frozen=True, repr=False)
class Wire:
    port: int
    login_id: str
    transaction_key: str
    database: ChaosDatabase  # the sandbox's ledger

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/xml/v1/request.api"

    def environment(self, api_port: int, signature_key: str) -> dict[str, str]:
        """The connector's settings for the gateway's processes, and the sandbox's
        own (its credentials are the connector's)."""
        return {
            "GATEWAY_PROCESSOR": "authorize_net",
            "GATEWAY_AUTHORIZE_NET_ENVIRONMENT": self.url,
            "GATEWAY_AUTHORIZE_NET_LOGIN_ID": self.login_id,
            "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY": self.transaction_key,
            "GATEWAY_SANDBOX_PORT": str(self.port),
            "GATEWAY_SANDBOX_LOGIN_ID": self.login_id,
            "GATEWAY_SANDBOX_TRANSACTION_KEY": self.transaction_key,
            "GATEWAY_SANDBOX_DATABASE_URL": self.database.url,
            "GATEWAY_SANDBOX_WEBHOOK_URL": f"http://127.0.0.1:{api_port}{WEBHOOK_PATH}",
            "GATEWAY_SANDBOX_SIGNATURE_KEY": signature_key,
        }

    def child(self) -> Child:
        """`gateway sandbox serve`, always on the same port: a restart takes the
        place of the process it replaces, as a processor's outage ends."""
        return Child(SANDBOX, ["sandbox", "serve", "--port", str(self.port)])

    def answers(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            return True
        return False

    async def settle_batch(self) -> bool:
        """The processor closes its batch, as `gateway sandbox settle --now` asks it
        to (without a process of its own); False while the sandbox is down. The
        gateway learns of it afterwards from the settled batches the connector reads."""
        auth = (self.login_id, self.transaction_key)
        async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
            try:
                answer = await client.post(
                    self.control_url("settle"), json={"now": True}, auth=auth
                )
            except httpx.HTTPError:
                return False
        return answer.status_code == 200

    def control_url(self, action: str) -> str:
        return f"http://127.0.0.1:{self.port}/_sandbox/{action}"

    def webhooks_in_flight(self, gateway_dsn: str) -> Counting:
        return summed(
            counting(self.database.dsn, SANDBOX_WEBHOOKS_DUE),
            counting(gateway_dsn, EVENTS_IN_FLIGHT),
        )

    def webhooks_retrying(self) -> Counting:
        return counting(self.database.dsn, SANDBOX_WEBHOOKS_RETRYING)


@contextlib.contextmanager
def wire(database: ChaosDatabase, *, keep: bool) -> Iterator[Wire]:
    """The sandbox's settings, its database created beside the run's (the sandbox
    migrates it when it starts) and dropped afterwards unless `keep`."""
    with sibling_database(database, "_sandbox", keep=keep) as ledger:
        yield Wire(
            port=free_port(),
            login_id="chaos" + secrets.token_hex(5),
            transaction_key=secrets.token_hex(8),
            database=ledger,
        )
