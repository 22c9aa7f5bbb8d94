"""The ledger audit: the processor's ledger (the simulator's tables) against the
gateway's, and both against what the merchant was told.

- every processor charge is known to the gateway once, with its amount and a
  matching status, and every charge the gateway calls approved is at the processor;
- nothing reached the processor twice for one reference (invariant 4), and no
  Idempotency-Key maps to two charges;
- refunds never exceed captures, on either side, and each side has the other's;
- nothing is left `pending` past the reconciliation window;
- what the merchant was last told of a transaction is still true, or was
  overtaken by a later step (a capture was refunded), never contradicted;
- sweep voids (authorization expiry, orphan compensation) match the processor's
  ledger: see `_VOIDED` and `_VOID_REFUSED` for the two states a void may
  legitimately leave behind besides the plain ones;
- renewals: no invoice is charged twice, a paid invoice has exactly one charge,
  and every subscription charge the processor took is an attempt of an invoice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from ops.chaos.merchant import ClientLedger

# The gateway statuses a processor status may stand behind.
_CHARGE_STATUS = {
    "authorizedPendingCapture": {"authorized"},
    "capturedPendingSettlement": {"captured", "partially_refunded", "refunded"},
    "settledSuccessfully": {"captured", "partially_refunded", "refunded"},
    # A full refund before settlement is a void at the processor (ANET.md §2).
    "voided": {"voided", "refunded"},
    "declined": {"declined"},
    "expired": {"expired"},
}
# What a status the merchant saw may have become since.
_LATER = {
    # Never captured, an authorization expires (the expiry sweep).
    "authorized": {"authorized", "captured", "partially_refunded", "refunded", "voided", "expired"},
    "captured": {"captured", "partially_refunded", "refunded"},
    "partially_refunded": {"partially_refunded", "refunded"},
}
_APPROVED = ("authorized", "captured", "partially_refunded", "refunded", "voided", "expired")
# The expiry sweep voids an authorization at the processor and ends it `expired`,
# not `voided` (payments/sweeps/expiry.py): legitimate when a void of it succeeded.
_VOIDED = {"voided": "expired"}
# A compensation void that lost the race with settlement (or that the processor
# refused) leaves the charge standing at the processor and `requires_review`
# here: a person decides (payments/sweeps/compensation.py). Legitimate only when such a
# void was refused and the processor still holds the captured charge.
_VOID_REFUSED = {"capturedPendingSettlement", "settledSuccessfully"}


@dataclass
class AuditReport:
    counts: Counter[str] = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)

    def mismatch(self, text: str) -> None:
        self.mismatches.append(text)


async def audit(
    connection: asyncpg.Connection[Any], ledger: ClientLedger, *, pending_since: datetime
) -> AuditReport:
    """Everything above, read on one connection; a transaction pending since before
    `pending_since` has outlived the reconciliation window."""
    report = AuditReport()
    await _charges(connection, report)
    await _children(connection, report)
    await _resends(connection, report)
    await _keys(connection, ledger, report)
    await _pending(connection, report, pending_since)
    await _merchant_view(connection, ledger, report)
    await _renewals(connection, report)
    await _sweep_voids(connection, report)
    await _webhooks(connection, report)
    for error in ledger.server_errors:
        report.mismatch(f"the gateway answered a 5xx: {error}")
    return report


async def _charges(connection: asyncpg.Connection[Any], report: AuditReport) -> None:
    rows = await connection.fetch(
        """
        SELECT s.id, s.reference, s.status, s.amount, s.settle_amount,
               t.id AS gateway_id, t.status AS gateway_status, t.amount AS gateway_amount,
               t.amount_captured, t.processor_transaction_id,
               count(*) OVER (PARTITION BY s.reference) AS charges_for_reference,
               (SELECT count(*) FROM transactions v WHERE v.parent_id = t.id
                 AND v.type = 'void' AND v.status = 'succeeded') AS voids_succeeded,
               (SELECT count(*) FROM transactions v WHERE v.parent_id = t.id
                 AND v.type = 'void' AND v.status IN ('declined', 'failed')) AS voids_refused,
               t.expires_at <= now() AS past_expiry
        FROM simulator_transactions s LEFT JOIN transactions t ON t.id = s.reference
        WHERE s.kind IN ('purchase', 'authorization')
        """
    )
    for row in rows:
        report.counts["processor charges"] += 1
        reference = row["reference"]
        if row["gateway_id"] is None:
            report.mismatch(f"processor charge {row['id']} ({reference}) unknown to the gateway")
            continue
        if row["charges_for_reference"] > 1:
            report.mismatch(f"{reference} charged {row['charges_for_reference']} times")
        if row["gateway_amount"] != row["amount"]:
            report.mismatch(
                f"{reference}: amount {row['gateway_amount']} here,"
                f" {row['amount']} at the processor"
            )
        if row["processor_transaction_id"] != str(row["id"]):
            report.mismatch(
                f"{reference}: processor id {row['processor_transaction_id']!r},"
                f" expected {row['id']}"
            )
        if _swept(row, report):
            continue
        expected = _CHARGE_STATUS.get(row["status"], set())
        if row["gateway_status"] not in expected:
            report.mismatch(
                f"{reference}: {row['gateway_status']} here, {row['status']} at the processor"
            )
        elif row["status"] in ("capturedPendingSettlement", "settledSuccessfully") and (
            row["amount_captured"] != row["settle_amount"]
        ):
            report.mismatch(
                f"{reference}: captured {row['amount_captured']} here,"
                f" {row['settle_amount']} at the processor"
            )
    missing = await connection.fetch(
        f"""
        SELECT t.id, t.status FROM transactions t
        WHERE t.type IN ('purchase', 'authorization')
          AND t.status IN ({", ".join(f"'{status}'" for status in _APPROVED)})
          AND NOT EXISTS (SELECT 1 FROM simulator_transactions s WHERE s.reference = t.id)
        """
    )
    for row in missing:
        report.mismatch(f"{row['id']} is {row['status']} here but the processor never charged it")
    for row in await connection.fetch(
        "SELECT status, count(*) AS n FROM transactions GROUP BY status ORDER BY status"
    ):
        report.counts[f"gateway {row['status']}"] = row["n"]


def _swept(row: asyncpg.Record, report: AuditReport) -> bool:
    """True when the row is one of the two legitimate ends of a sweep void that
    the plain status table does not cover (counted, never a mismatch)."""
    status, here = row["status"], row["gateway_status"]
    if _VOIDED.get(status) == here and row["voids_succeeded"] == 1:
        report.counts["expiry voids matched"] += 1
        return True
    if here == "requires_review" and status in _VOID_REFUSED and row["voids_refused"]:
        report.counts["compensation voids refused (settled first): requires_review"] += 1
        return True
    # The processor let an orphaned authorization's hold lapse before its
    # compensation void arrived: the void is refused, nothing is held, and the
    # gateway refers it to a person rather than guess.
    if here == "requires_review" and status == "expired" and row["voids_refused"]:
        report.counts["compensation voids refused (hold lapsed first): requires_review"] += 1
        return True
    # Past its expiry here too, so no capture is accepted; only the expiry sweep
    # has not reached it yet (a run ending with background work left).
    if here == "authorized" and status == "expired" and row["past_expiry"]:
        report.counts["expired authorizations the expiry sweep had not reached"] += 1
        return True
    return False


async def _children(connection: asyncpg.Connection[Any], report: AuditReport) -> None:
    """Captures and refunds: each succeeded one is at the processor with its amount,
    each processor refund is a succeeded refund here, and refunds stay within captures."""
    children = await connection.fetch(
        """
        SELECT t.id, t.type, t.status, t.amount,
               (SELECT count(*) FROM simulator_requests r
                 WHERE r.reference = t.id AND r.outcome = 'approved') AS approved_calls
        FROM transactions t WHERE t.type IN ('capture', 'refund', 'void')
        """
    )
    for row in children:
        report.counts[f"{row['type']}s {row['status']}"] += 1
        if row["status"] == "succeeded" and row["approved_calls"] != 1:
            report.mismatch(
                f"{row['type']} {row['id']} succeeded here;"
                f" the processor approved it {row['approved_calls']} times"
            )
        if row["status"] in ("failed", "declined") and row["approved_calls"]:
            report.mismatch(f"{row['type']} {row['id']} is {row['status']} here, approved there")
    refunds = await connection.fetch(
        """
        SELECT s.id, s.reference, s.settle_amount, t.status, t.amount
        FROM simulator_transactions s LEFT JOIN transactions t ON t.id = s.reference
        WHERE s.kind = 'refund'
        """
    )
    for row in refunds:
        if row["status"] != "succeeded" or row["amount"] != row["settle_amount"]:
            report.mismatch(
                f"processor refund {row['id']} of {row['settle_amount']} is"
                f" {row['status']} {row['amount']} here"
            )
    over_here = await connection.fetch(
        """
        SELECT p.id, p.amount_captured, p.amount_refunded,
               coalesce(sum(c.amount) FILTER (WHERE c.status = 'succeeded'), 0) AS refunded
        FROM transactions p JOIN transactions c ON c.parent_id = p.id AND c.type = 'refund'
        GROUP BY p.id
        HAVING coalesce(sum(c.amount) FILTER (WHERE c.status = 'succeeded'), 0)
               NOT BETWEEN 0 AND p.amount_captured
            OR coalesce(sum(c.amount) FILTER (WHERE c.status = 'succeeded'), 0)
               <> p.amount_refunded
        """
    )
    for row in over_here:
        report.mismatch(
            f"{row['id']}: refunds {row['refunded']} (recorded {row['amount_refunded']})"
            f" against {row['amount_captured']} captured"
        )
    over_there = await connection.fetch(
        """
        SELECT p.id, p.settle_amount, sum(r.settle_amount) AS refunded
        FROM simulator_transactions p JOIN simulator_transactions r ON r.parent_id = p.id
        WHERE r.kind = 'refund' GROUP BY p.id, p.settle_amount
        HAVING sum(r.settle_amount) > p.settle_amount
        """
    )
    for row in over_there:
        report.mismatch(
            f"processor {row['id']}: refunded {row['refunded']} of {row['settle_amount']} captured"
        )


async def _resends(connection: asyncpg.Connection[Any], report: AuditReport) -> None:
    """Invariant 4: one reference reaches the processor at most once."""
    rows = await connection.fetch(
        """
        SELECT reference, operation, count(*) AS n FROM simulator_requests
        GROUP BY reference, operation HAVING count(*) > 1
        """
    )
    for row in rows:
        report.mismatch(f"{row['reference']}: {row['operation']} sent {row['n']} times")
    lost = await connection.fetchval("SELECT count(*) FROM simulator_requests WHERE response_lost")
    report.counts["processor answers lost (recorded timeouts)"] = lost


async def _keys(
    connection: asyncpg.Connection[Any], ledger: ClientLedger, report: AuditReport
) -> None:
    shared = await connection.fetch(
        """
        SELECT transaction_id, count(*) AS n FROM idempotency_keys
        WHERE transaction_id IS NOT NULL GROUP BY transaction_id HAVING count(*) > 1
        """
    )
    for row in shared:
        report.mismatch(f"{row['transaction_id']} is held by {row['n']} Idempotency-Keys")
    charged = {
        row["reference"]
        for row in await connection.fetch(
            "SELECT DISTINCT reference FROM simulator_requests WHERE outcome = 'approved'"
        )
    }
    parents = {
        row["id"]: row["parent_id"]
        for row in await connection.fetch(
            "SELECT id, parent_id FROM transactions WHERE parent_id IS NOT NULL"
        )
    }
    for key, transaction_ids in ledger.keys.items():
        # A key's answers may name its movement's parent besides the movement (a
        # cancel answers with what it cancelled once done; a refusal names the
        # parent): the parent is not a second movement of the key.
        named_parents = {parents[found] for found in transaction_ids if found in parents}
        reached = (transaction_ids - named_parents) & charged
        if len(reached) > 1:
            report.mismatch(f"one Idempotency-Key ({key}) moved money {len(reached)} times")
    report.counts["idempotency keys used"] = len(ledger.keys)


async def _pending(
    connection: asyncpg.Connection[Any], report: AuditReport, cutoff: datetime
) -> None:
    rows = await connection.fetch(
        "SELECT id, pending_reason, created_at FROM transactions WHERE status = 'pending'"
    )
    report.counts["left pending"] = len(rows)
    for row in rows:
        if row["created_at"] < cutoff:
            report.mismatch(
                f"{row['id']} still pending ({row['pending_reason']})"
                " past the reconciliation window"
            )


async def _webhooks(connection: asyncpg.Connection[Any], report: AuditReport) -> None:
    """The simulator's own webhooks came back during the run: how they ended. Their
    effect is in the ledgers above; here only that they were processed."""
    rows = await connection.fetch(
        "SELECT status, coalesce(outcome, '-') AS outcome, count(*) AS n"
        " FROM webhook_events GROUP BY 1, 2"
    )
    for row in rows:
        report.counts[f"webhook events {row['status']} ({row['outcome']})"] = row["n"]


async def _merchant_view(
    connection: asyncpg.Connection[Any], ledger: ClientLedger, report: AuditReport
) -> None:
    if not ledger.seen:
        return
    rows = await connection.fetch(
        "SELECT id, status FROM transactions WHERE id = ANY($1::text[])", list(ledger.seen)
    )
    now = {row["id"]: row["status"] for row in rows}
    for transaction_id, seen in ledger.seen.items():
        current = now.get(transaction_id)
        if current is None:
            report.mismatch(f"the merchant was told of {transaction_id}; the gateway has none")
        elif seen != "pending" and current not in _LATER.get(seen, {seen}):
            report.mismatch(f"{transaction_id}: the merchant was told {seen}; it is now {current}")


# Processor charges (not declined) of each invoice, through the attempts that
# record them: the gateway's account of what it charged for the invoice.
_INVOICES = """
    SELECT i.id, i.status, s.test_clock_id IS NOT NULL AS on_clock,
           i.period_start > (SELECT min(f.period_start) FROM invoices f
                             WHERE f.subscription_id = i.subscription_id) AS renewal,
           i.period_start > s.created_at + interval '1 second' AS deferred_start,
           count(st.id) FILTER (WHERE st.status <> 'declined') AS charged,
           count(a.id) FILTER (WHERE a.status = 'pending') AS pending_attempts
    FROM invoices i
    JOIN subscriptions s ON s.id = i.subscription_id
    LEFT JOIN invoice_attempts a ON a.invoice_id = i.id
    LEFT JOIN simulator_transactions st
           ON st.reference = a.transaction_id AND st.kind = 'purchase'
    GROUP BY i.id, i.status, s.test_clock_id, s.created_at
"""
# Subscription charges the processor took that no attempt of their invoice names.
_UNACCOUNTED = """
    SELECT t.id, t.invoice_id FROM transactions t
    JOIN simulator_transactions st ON st.reference = t.id AND st.status <> 'declined'
    WHERE (t.subscription_id IS NOT NULL OR t.invoice_id IS NOT NULL)
      AND NOT EXISTS (SELECT 1 FROM invoice_attempts a WHERE a.transaction_id = t.id)
"""


async def _renewals(connection: asyncpg.Connection[Any], report: AuditReport) -> None:
    """Each invoice charged at most once; paid exactly when charged once (an
    attempt still pending is reconciliation's, and `_pending` judges it); every
    subscription charge accounted for by an attempt."""
    report.counts["subscriptions"] = await connection.fetchval("SELECT count(*) FROM subscriptions")
    for row in await connection.fetch(_INVOICES):
        report.counts[f"invoices {row['status']}"] += 1
        charged = row["charged"]
        if charged > 1:
            report.mismatch(f"invoice {row['id']} charged {charged} times")
        elif row["status"] == "paid" and charged == 0:
            report.mismatch(f"invoice {row['id']} is paid; the processor never charged it")
        elif charged == 1 and row["status"] != "paid" and not row["pending_attempts"]:
            report.mismatch(f"invoice {row['id']} was charged; it is {row['status']} here")
        if row["status"] != "paid":
            continue
        if row["renewal"]:
            # On test clocks in practice: a wall-clock period is a day, longer than a run.
            report.counts["renewal charges"] += 1
        elif row["deferred_start"] and not row["on_clock"]:
            report.counts["first charges by the billing tick"] += 1
    for row in await connection.fetch(_UNACCOUNTED):
        report.mismatch(
            f"subscription charge {row['id']} (invoice {row['invoice_id']})"
            " is at the processor but no invoice attempt names it"
        )


async def _sweep_voids(connection: asyncpg.Connection[Any], report: AuditReport) -> None:
    """How the sweeps' voids ended (their ledger checks are `_charges`' and
    `_children`'), told apart by who started each void: the expiry sweep acts as
    `system`, compensation as `reconciliation`, a merchant's cancel as `api`."""
    rows = await connection.fetch(
        """
        SELECT e.actor, v.status, count(*) AS n
        FROM transactions v JOIN events e ON e.object_id = v.id AND e.sequence = 1
        WHERE v.type = 'void' AND e.actor IN ('system', 'reconciliation')
        GROUP BY 1, 2
        """
    )
    for row in rows:
        sweep = "expiry" if row["actor"] == "system" else "compensation"
        report.counts[f"{sweep} voids {row['status']}"] += row["n"]
    report.counts["orphans recorded"] = await connection.fetchval(
        "SELECT count(*) FROM events WHERE reason LIKE 'orphan recorded%'"
    )
