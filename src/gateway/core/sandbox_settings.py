"""`gateway sandbox serve`'s settings (API.md "Running"), a group of their own.

Empty values mean "derive it": the credentials are generated and kept under the
data folder in development (`core.devsecrets`), the database, webhook URL and
signature key follow the gateway's own settings (`gateway.sandbox.config`).
"""

from __future__ import annotations

from typing import Annotated

import msgspec


class SandboxSettings(
    msgspec.Struct, frozen=True, rename=lambda name: f"GATEWAY_SANDBOX_{name.upper()}"
):
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8090
    login_id: str = ""
    transaction_key: str = ""
    # None: a database of its own (`<gateway database>_sandbox`) on the gateway's server.
    database_url: str | None = None
    # None: this gateway's /api/v1/webhooks/authorize-net; "" posts no webhooks.
    webhook_url: str | None = None
    # Empty: the first of GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS.
    signature_key: str = ""
