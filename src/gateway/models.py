"""Every domain's models, imported so `Base.metadata` is complete (Alembic, tests)."""

from gateway.core.db import Base

__all__ = ["Base"]
