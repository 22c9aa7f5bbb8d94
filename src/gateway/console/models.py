"""Operator accounts: people who sign in to the console (not API keys)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.core.db import Base


class Operator(Base):
    __tablename__ = "operators"
    __table_args__ = (
        CheckConstraint("role IN ('viewer', 'admin')", name="role"),
        Index("ux_operators_email", "email", unique=True),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    # Stored lower-cased: one person, one account, however they type it.
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16))
    # argon2id, with its parameters and salt (argon2-cffi's encoded form).
    password_hash: Mapped[str] = mapped_column(String(255))
    # Wrong passwords since the last success; locked once over the limit.
    failed_logins: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Sessions signed in before this are over (a sign-out, a new password): the
    # cookie cannot be recalled from the browser, so the server stops honouring it.
    sessions_valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
