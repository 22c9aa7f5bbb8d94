"""`gateway operators ...`: accounts for the operator console."""

from __future__ import annotations

import sys

import click
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.cli.common import EXIT_USAGE, emit, fail, json_option
from gateway.cli.common import database_work as _run
from gateway.console.models import Operator
from gateway.console.passwords import password_problem
from gateway.console.service import OperatorService, Role
from gateway.core.clock import Clock


@click.group()
def operators() -> None:
    """Console operators: people who sign in to /console (not API keys)."""


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if problem := password_problem(password):
        fail(problem, code=EXIT_USAGE)
    return password


@operators.command("create")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice([role.value for role in Role]),
    required=True,
    help="viewer: reads everything but personal data; admin: also acts and sees personal data.",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@json_option
def create_operator(email: str, role: str, password_stdin: bool, as_json: bool) -> None:
    """Create an operator who signs in to the console with EMAIL."""
    password = _password(password_stdin)

    async def work(session: AsyncSession, clock: Clock) -> Operator:
        return await OperatorService(session, clock).create(email, Role(role), password)

    operator = _run(work)
    view = {"id": operator.id, "email": operator.email, "role": operator.role}
    emit(
        view,
        as_json=as_json,
        human=lambda: f"created operator {operator.id} ({operator.email}, {operator.role})",
    )
