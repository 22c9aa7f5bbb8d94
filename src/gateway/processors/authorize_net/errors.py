"""The connector's own failure: Authorize.Net refused us, not the payment."""

from __future__ import annotations

from gateway.processors.port import OperatorError


class AuthorizeNetUnavailableError(OperatorError):
    """Authorize.Net refused the call as a whole: our credentials or environment
    (E00007, reason 13: sandbox keys on production, or the reverse) or a field
    it would not take (E00013). No transaction was made and no merchant can fix
    it, so it is the operator's error.

    It is an `OperatorError` (a `NotSentError`) on purpose: nothing was
    processed, so the resilient layer counts it as one breaker failure, without
    retrying it, and the API answers 503 `processor_unavailable`, exactly as for
    a processor that cannot be reached.
    `answers.raise_if_unavailable` logs `authorize_net.operator_error` once, at
    the point it is recognised.
    """

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"Authorize.Net refused the call ({code}): {text}")
        self.code = code
        self.text = text
