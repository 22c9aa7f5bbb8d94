"""In development, live keys go through the Authorize.Net connector to the local
`gateway sandbox serve` (issue 17 point 3): which processor that means, whether a
configuration points at that sandbox, and how the gateway's commands reach it.

The decision is one pure function, `local_sandbox_processor`, so `gateway up`
(which hands it to its children) and the operator commands beside it (`gateway
settle`, `gateway processors check`) cannot disagree. `gateway serve` run by
hand and test runs keep the simulator: only these commands apply it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
import msgspec

from gateway.core.processor_settings import AUTHORIZE_NET_PATH
from gateway.core.sandbox_settings import SandboxSettings
from gateway.core.settings import Settings

# Any of these set by the user (non-empty) is their choice of live processor.
USER_CHOICES: Final = (
    "GATEWAY_PROCESSOR",
    "GATEWAY_AUTHORIZE_NET_LOGIN_ID",
    "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY",
    "GATEWAY_AUTHORIZE_NET_ENVIRONMENT",
)
_LOOPBACK_HOSTS: Final = ("127.0.0.1", "localhost", "[::1]")


def sandbox_url(port: int) -> str:
    return f"http://127.0.0.1:{port}{AUTHORIZE_NET_PATH}"


@dataclass(frozen=True, repr=False)
class LocalSandbox:
    """The connector's settings for the local sandbox."""

    url: str
    login_id: str
    transaction_key: str

    def environment(self) -> dict[str, str]:
        """As variables, for child processes."""
        return {
            "GATEWAY_PROCESSOR": "authorize_net",
            "GATEWAY_AUTHORIZE_NET_ENVIRONMENT": self.url,
            "GATEWAY_AUTHORIZE_NET_LOGIN_ID": self.login_id,
            "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY": self.transaction_key,
        }

    def apply(self, settings: Settings) -> Settings:
        """As settings, for this process."""
        replace = msgspec.structs.replace
        processor = replace(
            settings.processor,
            processor="authorize_net",
            authorize_net_environment=self.url,
            authorize_net_login_id=self.login_id,
            authorize_net_transaction_key=self.transaction_key,
        )
        return replace(settings, processor=processor)

    def __repr__(self) -> str:  # never the transaction key
        return f"LocalSandbox(url={self.url!r}, login_id={self.login_id!r})"


def local_sandbox_processor(environ: Mapping[str, str], settings: Settings) -> LocalSandbox | None:
    """The local sandbox as the live processor, or None: only in development,
    and only when the user chose no live processor themselves (`environ` holds
    none of `USER_CHOICES`). `settings` carries the sandbox's credentials (the
    development secrets filled in)."""
    if settings.core.env != "development":
        return None
    if any(environ.get(name, "").strip() for name in USER_CHOICES):
        return None
    sandbox = settings.sandbox
    if not (sandbox.login_id and sandbox.transaction_key):
        return None
    return LocalSandbox(sandbox_url(sandbox.port), sandbox.login_id, sandbox.transaction_key)


def with_local_sandbox(environ: Mapping[str, str], settings: Settings) -> Settings:
    """`settings` with the local sandbox as the live processor when it is the default."""
    local = local_sandbox_processor(environ, settings)
    return settings if local is None else local.apply(settings)


def points_at_local_sandbox(settings: Settings) -> bool:
    """Whether live keys go through the connector to this machine's sandbox port."""
    processor = settings.processor
    if processor.processor != "authorize_net":
        return False
    port = settings.sandbox.port
    return any(
        processor.authorize_net_environment == f"http://{host}:{port}{AUTHORIZE_NET_PATH}"
        for host in _LOOPBACK_HOSTS
    )


# -- talking to the running sandbox ------------------------------------------------------


class SandboxUnreachable(Exception):
    """No sandbox answers on its port."""


class SandboxRefusedControl(Exception):
    """The sandbox answered a control call with an error (its message)."""


def control(
    sandbox: SandboxSettings, action: str, body: dict[str, Any], *, timeout_s: float = 30
) -> dict[str, Any]:
    """POST /_sandbox/<action> with the sandbox's credentials (HTTP basic auth)."""
    url = f"http://127.0.0.1:{sandbox.port}/_sandbox/{action}"
    auth = (sandbox.login_id, sandbox.transaction_key)
    try:
        response = httpx.post(url, json=body, auth=auth, timeout=timeout_s)
    except httpx.HTTPError as error:
        raise SandboxUnreachable(f"no sandbox answers at {url} ({type(error).__name__})") from None
    try:
        answer: dict[str, Any] = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200:
        raise SandboxRefusedControl(str(answer.get("error", response.text)))
    return answer


def authenticates(url: str, login_id: str, transaction_key: str, *, timeout_s: float = 1) -> bool:
    """Whether the sandbox at `url` answers authenticateTestRequest with Ok."""
    request = {
        "authenticateTestRequest": {
            "merchantAuthentication": {"name": login_id, "transactionKey": transaction_key}
        }
    }
    try:
        response = httpx.post(url, json=request, timeout=timeout_s)
        answer = json.loads(response.content.decode("utf-8-sig"))
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(answer, dict) and answer.get("messages", {}).get("resultCode") == "Ok"
