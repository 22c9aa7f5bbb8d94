"""The operator console's settings (API.md "Running", issue 23)."""

from __future__ import annotations

import msgspec

from gateway.core.setting_types import PositiveFloat, PositiveInt, prefixed

# Enough entropy for the keys derived from it (session cookie, CSRF tokens).
MIN_CONSOLE_SECRET = 32


class ConsoleSettings(msgspec.Struct, frozen=True, rename=prefixed("GATEWAY_CONSOLE_")):
    # None: on outside production, off in production (where it belongs on a
    # private listener or network, switched on deliberately).
    enabled: bool | None = None
    # None: generated and persisted under the data folder (never in production).
    secret: str | None = None
    # Wrong passwords in a row before an account is locked, and for how long.
    max_failed_logins: PositiveInt = 5
    lockout_minutes: PositiveFloat = 15.0
    # Login attempts per client address and minute, whatever the account.
    logins_per_min: PositiveInt = 10
    # How long a session lasts after login.
    session_hours: PositiveFloat = 12.0

    def is_enabled(self, *, production: bool) -> bool:
        return self.enabled if self.enabled is not None else not production


def console_secret_problem(secret: str) -> str | None:
    if len(secret) >= MIN_CONSOLE_SECRET:
        return None
    return f"must be at least {MIN_CONSOLE_SECRET} characters"
