"""`gateway settle` and `gateway simulator ...`: the built-in processor's operator side."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    emit,
    fail,
    json_option,
    load_settings_or_exit,
    run_in_session,
    running_servers,
    to_builtins,
)
from gateway.cli.local_sandbox import (
    SandboxRefusedControl,
    SandboxUnreachable,
    control,
    points_at_local_sandbox,
    with_local_sandbox,
)
from gateway.composition.process import command_simulator, open_processors, open_redis
from gateway.composition.resources import field_crypto
from gateway.core.clock import Clock, SystemClock
from gateway.core.errors import NotFound, ValidationFailed
from gateway.core.ids import is_id
from gateway.core.settings import Settings
from gateway.payments.settlement import SettlementService, SettlementSummary
from gateway.processors.port import ProcessorTransaction
from gateway.processors.simulator import (
    OutageSwitch,
    ReviewDecision,
    Simulator,
    SimulatorError,
    parse_script,
)
from gateway.vault.repository import PaymentMethodRepository
from gateway.vault.service import PaymentMethodService

T = TypeVar("T")


def _with_simulator(
    settings: Settings, work: Callable[[AsyncSession, Simulator], Awaitable[T]]
) -> T:
    """Run `work` with the gateway's session (committed at the end) and the simulator;
    what the simulator cannot find or do exits 1."""
    with running_servers(settings) as ready:

        async def in_session(session: AsyncSession, clock: Clock) -> T:
            async with command_simulator(ready, clock) as simulator:
                try:
                    return await work(session, simulator)
                except SimulatorError as error:
                    raise NotFound(str(error)) from None

        return run_in_session(ready, in_session)


@click.command()
@click.option(
    "--now", "everything", is_flag=True, help="Settle everything unsettled, ignoring the cut-off."
)
@json_option
def settle(everything: bool, as_json: bool) -> None:
    """Settle what the simulator took before the last cut-off.

    The cut-off is GATEWAY_SETTLEMENT_CUTOFF (a local time in a zone, e.g. 16:00
    America/Los_Angeles); authorizations past GATEWAY_AUTH_EXPIRY_DAYS expire.
    The gateway's own rows then get `settled_at` from the settled batches each
    processor reports (the simulator's, and the live processor's when it does).
    """
    settings, sandbox_batch = _settle_sandbox_first(load_settings_or_exit(), now=everything)
    with running_servers(settings) as ready:

        async def work(session: AsyncSession, clock: Clock) -> SettlementSummary:
            async with open_processors(ready, clock) as processors:
                service = SettlementService(
                    session, processors.simulator, processors=processors.registry, clock=clock
                )
                return await service.settle(everything=everything)

        summary = run_in_session(ready, work)

    def human() -> str:
        if summary.batch_id is None:
            settled = "nothing to settle"
        else:
            settled = f"settled {len(summary.settled)} in batch {summary.batch_id}"
        cutoff = "everything (--now)" if summary.cutoff is None else summary.cutoff.isoformat()
        unreachable = "".join(
            f"; {name} unreachable, asked again next time" for name in summary.unreachable
        )
        sandbox = (
            ""
            if sandbox_batch is None
            else f"sandbox: batch {sandbox_batch['batch_id'] or '(none)'}:"
            f" {len(sandbox_batch['settled'])} settled, {len(sandbox_batch['expired'])} expired\n"
        )
        return (
            f"{sandbox}simulator: {settled}; cut-off {cutoff}; {summary.marked} gateway"
            f" transaction(s) marked; {len(summary.expired)} authorization(s) expired{unreachable}"
        )

    emit({**to_builtins(summary), "sandbox": sandbox_batch}, as_json=as_json, human=human)


def _settle_sandbox_first(
    settings: Settings, *, now: bool
) -> tuple[Settings, dict[str, Any] | None]:
    """When live keys go through the connector to the local sandbox (in
    development, unless another live processor is set), the sandbox closes its
    batch first, as Authorize.Net's does on its own; the sync then learns it from
    getSettledBatchList like any other batch. A sandbox that does not answer is
    said in one line, and the simulator settles all the same."""
    if settings.is_production:
        return settings, None
    live = with_local_sandbox(os.environ, settings)
    if not points_at_local_sandbox(live):
        return settings, None
    try:
        return live, control(live.sandbox, "settle", {"now": now})
    except (SandboxUnreachable, SandboxRefusedControl) as error:
        click.echo(f"gateway: the sandbox was not settled ({error}); carrying on", err=True)
        return settings, None


@click.group()
def simulator() -> None:
    """Drive the built-in simulator: fraud review, scripted outcomes, outages."""


@simulator.command("review")
@click.argument("transaction_id", metavar="TXN_ID")
@click.argument("decision", type=click.Choice(["approve", "decline"]))
@json_option
def review(transaction_id: str, decision: ReviewDecision, as_json: bool) -> None:
    """Approve or decline a charge held for review (reasons 252/253).

    TXN_ID is the gateway's transaction id (txn_...), the reference the charge
    was sent with.
    """
    if not is_id(transaction_id, "txn"):
        raise click.BadParameter("expected a transaction id (txn_...)", param_hint="TXN_ID")
    settings = load_settings_or_exit()

    async def work(_: AsyncSession, simulator: Simulator) -> ProcessorTransaction:
        return await simulator.review(transaction_id, decision)

    decided = _with_simulator(settings, work)
    emit(
        decided,
        as_json=as_json,
        human=lambda: (
            f"{decision}d {transaction_id}: processor transaction"
            f" {decided.processor_transaction_id} is now {decided.status}"
        ),
    )


@simulator.command("script")
@click.argument("payment_method", metavar="PM_ID")
@click.argument("outcomes", metavar="OUTCOME[,OUTCOME...]")
@json_option
def script(payment_method: str, outcomes: str, as_json: bool) -> None:
    """Make the next charges of a stored card follow a list (test mode only).

    PM_ID is the payment method's id (pm_...). OUTCOME is `approve`, `decline`
    (reason 2), `decline:N` (reason N) or `timeout` (the charge is recorded and
    its answer lost, as trigger 901). After the list, the normal triggers apply
    again; a new list replaces what is left of the previous one.
    """
    if not is_id(payment_method, "pm"):
        raise click.BadParameter("a payment method id (pm_...)", param_hint="PM_ID")
    try:
        steps = parse_script(outcomes)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="OUTCOME") from None
    settings = load_settings_or_exit()
    if settings.is_production:
        fail("simulator scripts are for test mode only (GATEWAY_ENV=production)", code=EXIT_USAGE)

    async def work(session: AsyncSession, simulator: Simulator) -> None:
        method = await PaymentMethodRepository(session).get_by_id(payment_method)
        if method is None or method.processor_token_encrypted is None:
            raise NotFound(f"No payment method {payment_method}.")
        if method.livemode:
            raise ValidationFailed.for_field("PM_ID", "scripts apply to test payment methods only")
        service = PaymentMethodService(session, SystemClock(), field_crypto(settings))
        await simulator.set_script(service.processor_token(method), steps)

    _with_simulator(settings, work)
    listed = [str(step) for step in steps]
    emit(
        {"payment_method": payment_method, "steps": listed},
        as_json=as_json,
        human=lambda: f"the next {len(listed)} charge(s) of {payment_method}: {', '.join(listed)}",
    )


@simulator.command("outage")
@click.argument("state", type=click.Choice(["on", "off"]))
@json_option
def outage(state: str, as_json: bool) -> None:
    """Refuse every simulator call, as an unreachable processor, until `off`.

    The flag lives in Redis and every process reads it on every call, so it
    reaches running API and worker processes (circuit breaker drills).
    """
    on = state == "on"
    settings = load_settings_or_exit()
    with running_servers(settings) as ready:
        try:
            asyncio.run(_turn_outage(ready, on=on))
        except RedisError as error:
            fail(f"could not reach Redis: {type(error).__name__}", code=EXIT_FAILED)
    emit({"outage": on}, as_json=as_json, human=lambda: f"simulator outage {state}")


async def _turn_outage(settings: Settings, *, on: bool) -> None:
    async with open_redis(settings) as redis:
        await OutageSwitch(redis).turn(on=on)
