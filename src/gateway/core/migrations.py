"""Apply Alembic migrations from code (`gateway migrate`, `gateway serve`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config


def _alembic_ini() -> Path:
    # The project root holds alembic.ini and migrations/ (also in the image).
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "alembic.ini"
        if candidate.exists():
            return candidate
    raise FileNotFoundError("alembic.ini not found above the gateway package")


def alembic_config(database_url: str) -> Config:
    config = Config(str(_alembic_ini()))
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    """Bring the schema up to date. Must run outside an event loop (Alembic's env
    starts its own)."""
    command.upgrade(alembic_config(database_url), "head")
