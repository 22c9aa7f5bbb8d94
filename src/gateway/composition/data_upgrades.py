"""Data upgrades that need the application's keys, which Alembic never holds:
run by `gateway migrate` (and `gateway up`) right after the schema migrations."""

from __future__ import annotations

from gateway.composition.process import command_sessions
from gateway.composition.resources import field_crypto
from gateway.core.settings import Settings
from gateway.vault.fingerprint_upgrade import scope_card_fingerprints


async def upgrade_stored_data(settings: Settings) -> int:
    """Every keyed data upgrade, idempotent; how many rows were rewritten."""
    fingerprints = field_crypto(settings).fingerprints
    async with command_sessions(settings) as sessions:
        return await scope_card_fingerprints(sessions, fingerprints)
