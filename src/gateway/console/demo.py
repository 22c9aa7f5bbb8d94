"""The development operator that `gateway up` makes, so a newcomer can sign in to
the console at once (its password is a generated development secret)."""

from __future__ import annotations

from gateway.console.service import OperatorService, Role

DEV_OPERATOR_EMAIL = "dev@gateway.local"


async def ensure_dev_operator(service: OperatorService, password: str) -> str:
    """An admin operator with this password, made or brought in line (and
    unlocked); its email."""
    if await service.set_password(DEV_OPERATOR_EMAIL, password) is None:
        await service.create(DEV_OPERATOR_EMAIL, Role.ADMIN, password)
    return DEV_OPERATOR_EMAIL
