"""An endpoint's signing secrets, sealed at rest (DESIGN.md invariant 8).

A `whsec_` secret signs what merchants trust, so it is kept like personal data:
AES-GCM bound to the endpoint's row and column (core/sealed_columns.py lists
both columns, so key rotation re-encrypts them). The API writes them here on
creation and rotation; the delivery worker opens them for each attempt.
"""

from __future__ import annotations

from gateway.core.crypto import FieldCrypto
from gateway.webhooks.outbound.models import ENDPOINTS_TABLE, WebhookEndpoint
from gateway.webhooks.outbound.signing import SigningSecrets

# The names bound into the ciphertexts' associated data.
SECRET_BOUND_AS = "secret"  # noqa: S105 - a column's name, not a secret
PREVIOUS_SECRET_BOUND_AS = "previous_secret"  # noqa: S105 - a column's name, not a secret


def seal_secrets(crypto: FieldCrypto, endpoint: WebhookEndpoint, secrets: SigningSecrets) -> None:
    """Write `secrets` into the endpoint's row (its id must be set)."""
    sealed = crypto.seal(
        secrets.current, table=ENDPOINTS_TABLE, column=SECRET_BOUND_AS, row_id=endpoint.id
    )
    assert sealed is not None
    endpoint.secret_encrypted = sealed
    endpoint.previous_secret_encrypted = crypto.seal(
        secrets.previous,
        table=ENDPOINTS_TABLE,
        column=PREVIOUS_SECRET_BOUND_AS,
        row_id=endpoint.id,
    )
    endpoint.previous_secret_until = secrets.previous_until


def open_secrets(crypto: FieldCrypto, endpoint: WebhookEndpoint) -> SigningSecrets:
    """The endpoint's secrets in force, opened (use `.at(now)` to sign)."""
    current = crypto.open(
        endpoint.secret_encrypted,
        table=ENDPOINTS_TABLE,
        column=SECRET_BOUND_AS,
        row_id=endpoint.id,
    )
    assert current is not None
    previous = crypto.open(
        endpoint.previous_secret_encrypted,
        table=ENDPOINTS_TABLE,
        column=PREVIOUS_SECRET_BOUND_AS,
        row_id=endpoint.id,
    )
    return SigningSecrets(
        current=current, previous=previous, previous_until=endpoint.previous_secret_until
    )
