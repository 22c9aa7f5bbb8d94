"""The processor's settings (API.md "Running"): which processor serves live keys,
the Authorize.Net account, and the timeouts and breaker of every processor call."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from gateway.core.money import is_supported

ProcessorName = Literal["simulator", "authorize_net"]
AUTHORIZE_NET_PATH = "/xml/v1/request.api"

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]


class ProcessorSettings(msgspec.Struct, frozen=True, rename=lambda name: f"GATEWAY_{name.upper()}"):
    processor: ProcessorName = "simulator"
    authorize_net_login_id: str = ""
    authorize_net_transaction_key: str = ""
    # "sandbox" (Authorize.Net's public sandbox), "production", or a URL ending in
    # /xml/v1/request.api (our own `gateway sandbox serve`, say).
    authorize_net_environment: str = "sandbox"
    # Comma-separated 128-hex-char Signature Keys; None: a development key.
    authorize_net_signature_keys: tuple[str, ...] | None = None
    # What the live account settles in (an Authorize.Net account has one currency).
    live_currencies: tuple[str, ...] = ("USD",)
    processor_connect_timeout_s: PositiveFloat = 3.0
    processor_read_timeout_s: PositiveFloat = 20.0
    processor_retry_deadline_s: PositiveFloat = 5.0
    breaker_fail_max: PositiveInt = 5
    breaker_reset_s: PositiveFloat = 30.0
    cvv_filter: bool = True

    def __post_init__(self) -> None:
        for key in self.authorize_net_signature_keys or ():
            if not re.fullmatch(r"[0-9A-Fa-f]{128}", key):
                raise ValueError(
                    "each key must be 128 hexadecimal characters"
                    " - at `$.GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS`"
                )
        if unsupported := [c for c in self.live_currencies if not is_supported(c)]:
            raise ValueError(f"unsupported currency {unsupported} - at `$.GATEWAY_LIVE_CURRENCIES`")
        environment = self.authorize_net_environment
        if environment not in ("sandbox", "production") and not re.fullmatch(
            rf"https?://[^/\s]+(?:/\S*)?{re.escape(AUTHORIZE_NET_PATH)}", environment
        ):
            raise ValueError(
                f"expected sandbox, production or a URL ending in {AUTHORIZE_NET_PATH}"
                " - at `$.GATEWAY_AUTHORIZE_NET_ENVIRONMENT`"
            )
        if self.processor != "authorize_net":
            return
        credentials = {
            "GATEWAY_AUTHORIZE_NET_LOGIN_ID": self.authorize_net_login_id,
            "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY": self.authorize_net_transaction_key,
        }
        for name, value in credentials.items():
            if not value:
                raise ValueError(f"required when GATEWAY_PROCESSOR=authorize_net - at `$.{name}`")
