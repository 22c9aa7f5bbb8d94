"""Every domain's models, imported so `Base.metadata` is complete (Alembic, tests)."""

from gateway.core.db import Base
from gateway.merchants.models import ApiKey, Merchant

__all__ = ["ApiKey", "Base", "Merchant"]
