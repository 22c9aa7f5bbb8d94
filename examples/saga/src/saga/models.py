"""The saga's own tables: stock, orders (the saga's state), shipments (the fake
carrier's) and order_log, the event store: one row per step taken or repeated."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class OrderStatus(StrEnum):
    RESERVED = "reserved"  # stock taken; the card not yet tokenized
    CHARGING = "charging"  # the charge is asked for (or about to be)
    CHARGE_PENDING = "charge_pending"  # the gateway answered 202: reconciliation decides
    CHARGED = "charged"  # paid (or authorized): shipping next
    SHIPPED = "shipped"  # shipped; an authorization still to capture
    COMPENSATING = "compensating"  # a later step failed: refund or void, then restock
    COMPLETED = "completed"
    COMPENSATED = "compensated"  # money returned, stock back
    FAILED = "failed"  # the charge was declined; stock back


FINAL = frozenset({OrderStatus.COMPLETED, OrderStatus.COMPENSATED, OrderStatus.FAILED})


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (CheckConstraint("stock >= 0", name="stock_not_negative"),)

    sku: Mapped[str] = mapped_column(String(40), primary_key=True)
    stock: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(Integer)  # minor units
    currency: Mapped[str] = mapped_column(String(3))


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    quantity: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    mode: Mapped[str] = mapped_column(String(10))  # purchase | authorize
    fail_shipping: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(String(200))
    payment_method_id: Mapped[str | None] = mapped_column(String(40))
    payment_id: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Shipment(Base):
    __tablename__ = "shipments"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    tracking: Mapped[str] = mapped_column(String(40))


class LogEntry(Base):
    __tablename__ = "order_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    step: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
