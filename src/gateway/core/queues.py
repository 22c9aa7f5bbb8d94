"""The RQ queues (DESIGN.md "Events, outbox and background work"), most urgent first."""

from __future__ import annotations

QUEUE_NAMES: tuple[str, ...] = ("webhooks", "billing", "deliveries", "simulator", "maintenance")
