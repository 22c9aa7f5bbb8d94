"""RQ cron registrations, loaded by `gateway cron` (RQ's CronScheduler).

Each domain registers its periodic jobs here with `rq.cron.register` as it is
built (billing tick, reconciliation sweep, settlement, expiry, outbox relay,
idempotency purge); every tick takes a PostgreSQL advisory lock, since RQ's
cron has no leader election. Intervals are in seconds, which sidesteps RQ
reading cron strings in local time.
"""

from rq import cron

from jobs.maintenance import purge_idempotency_keys

HOUR_S = 3600

cron.register(purge_idempotency_keys, queue_name="maintenance", interval=HOUR_S)
