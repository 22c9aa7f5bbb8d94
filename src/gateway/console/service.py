"""Operator accounts: creation, sign-in with lockout, and the audit of their actions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import AuditEntry
from gateway.console.models import Operator
from gateway.console.passwords import hash_password, password_problem, verify_password
from gateway.console.repository import OperatorRepository
from gateway.core.clock import Clock
from gateway.core.console_settings import ConsoleSettings
from gateway.core.errors import InvalidState, ValidationFailed
from gateway.core.ids import new_id

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class Role(StrEnum):
    VIEWER = "viewer"
    ADMIN = "admin"


class LoginResult(StrEnum):
    OK = "ok"
    INVALID = "invalid"  # unknown email or wrong password: one answer for both
    LOCKED = "locked"


@dataclass(frozen=True)
class Login:
    result: LoginResult
    operator: Operator | None = None


@dataclass(frozen=True)
class OperatorContext:
    """Who acts in the console, for the audit rows of what they do."""

    operator_id: str
    role: Role
    request_id: str | None
    ip_address: str | None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def normalized_email(email: str) -> str:
    value = email.strip().lower()
    if not _EMAIL.match(value) or len(value) > 254:
        raise ValidationFailed.for_field("email", "an email address")
    return value


class OperatorService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock
        self.operators = OperatorRepository(session)

    async def create(self, email: str, role: Role, password: str) -> Operator:
        address = normalized_email(email)
        if problem := password_problem(password):
            raise ValidationFailed.for_field("password", problem)
        if await self.operators.by_email(address) is not None:
            raise InvalidState(f"An operator {address} exists already.")
        operator = Operator(
            id=new_id("op"),
            email=address,
            role=role.value,
            password_hash=hash_password(password),
            failed_logins=0,
            created_at=self.clock.now(),
        )
        try:
            async with self.session.begin_nested():
                return await self.operators.add(operator)
        except IntegrityError:
            raise InvalidState(f"An operator {address} exists already.") from None

    async def set_password(self, email: str, password: str) -> Operator | None:
        """A new password for an existing operator (unlocks it too), or None."""
        if problem := password_problem(password):
            raise ValidationFailed.for_field("password", problem)
        operator = await self.operators.by_email(normalized_email(email), for_update=True)
        if operator is None:
            return None
        operator.password_hash = hash_password(password)
        operator.failed_logins = 0
        operator.locked_until = None
        operator.sessions_valid_from = self.clock.now()
        return operator

    async def end_sessions(self, operator_id: str) -> None:
        """Every session of this operator signed in until now stops being honoured."""
        operator = await self.operators.get(operator_id)
        if operator is not None:
            operator.sessions_valid_from = self.clock.now()

    async def get(self, operator_id: str) -> Operator | None:
        return await self.operators.get(operator_id)

    async def login(self, email: str, password: str, settings: ConsoleSettings) -> Login:
        """Check a password. A locked account is refused without looking at the
        password, so guessing on cannot find it; each wrong password counts, and
        reaching the limit locks the account for `lockout_minutes`."""
        try:
            address = normalized_email(email)
        except ValidationFailed:
            verify_password(None, password)
            return Login(LoginResult.INVALID)
        operator = await self.operators.by_email(address, for_update=True)
        now = self.clock.now()
        if operator is None:
            verify_password(None, password)
            return Login(LoginResult.INVALID)
        if operator.locked_until is not None and operator.locked_until > now:
            return Login(LoginResult.LOCKED, operator)
        if not verify_password(operator.password_hash, password):
            operator.failed_logins += 1
            if operator.failed_logins >= settings.max_failed_logins:
                operator.locked_until = now + timedelta(minutes=settings.lockout_minutes)
                operator.failed_logins = 0
                return Login(LoginResult.LOCKED, operator)
            return Login(LoginResult.INVALID, operator)
        operator.failed_logins = 0
        operator.locked_until = None
        operator.last_login_at = now
        return Login(LoginResult.OK, operator)

    async def record(
        self,
        actor: OperatorContext | None,
        action: str,
        *,
        object_type: str,
        object_id: str,
        merchant_id: str | None = None,
        livemode: bool | None = None,
        details: Mapping[str, Any] | None = None,
        operator_id: str | None = None,
        request_id: str | None = None,
        ip_address: str | None = None,
    ) -> AuditEntry:
        """One audit row for an operator's action. `details` holds ids and codes only."""
        entry = AuditEntry(
            id=new_id("aud"),
            merchant_id=merchant_id,
            livemode=livemode,
            api_key_id=None,
            operator_id=actor.operator_id if actor else operator_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            request_id=actor.request_id if actor else request_id,
            ip_address=actor.ip_address if actor else ip_address,
            details=dict(details or {}),
            created_at=self.clock.now(),
        )
        return await self.operators.add_audit(entry)
