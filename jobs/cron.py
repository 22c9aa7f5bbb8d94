"""RQ cron registrations, loaded by `gateway cron` (RQ's CronScheduler).

Each domain registers its periodic jobs here with `rq.cron.register` as it is
built (billing tick, reconciliation sweep, settlement, expiry, outbox relay,
idempotency purge); every tick takes a PostgreSQL advisory lock, since RQ's
cron has no leader election. Intervals are in seconds, which sidesteps RQ
reading cron strings in local time.
"""

from rq import cron

from jobs.billing import billing_tick
from jobs.deliveries import deliver_due
from jobs.maintenance import purge_idempotency_keys
from jobs.outbox import relay_outbox
from jobs.payments import (
    compensate_orphans,
    expire_authorizations,
    reconcile_pending,
    settle_simulator,
)

MINUTE_S = 60
HOUR_S = 3600

cron.register(purge_idempotency_keys, queue_name="maintenance", interval=HOUR_S)

# Payment sweeps. Settlement ticks often: the simulator settles only what came
# before its last cut-off, so most ticks find nothing to do.
cron.register(reconcile_pending, queue_name="maintenance", interval=MINUTE_S)
cron.register(expire_authorizations, queue_name="maintenance", interval=5 * MINUTE_S)
cron.register(compensate_orphans, queue_name="maintenance", interval=5 * MINUTE_S)
cron.register(settle_simulator, queue_name="maintenance", interval=5 * MINUTE_S)

# Billing: the tick requests charges; the relay hands them to `billing` jobs.
cron.register(billing_tick, queue_name="billing", interval=MINUTE_S)

# Commits nudge the relay at once; this tick catches whatever a nudge missed
# (Redis was down, the process died before nudging).
cron.register(relay_outbox, queue_name="maintenance", interval=15)

# Outbound webhooks: attempts are due in PostgreSQL (next_attempt_at); the sweep
# sends them, so a delivery survives a Redis that lost its jobs.
cron.register(deliver_due, queue_name="deliveries", interval=5)
