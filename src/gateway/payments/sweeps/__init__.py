"""The background sweeps of transactions: reconciliation's claims, authorization
expiry and orphan compensation.

- `claims`: the claiming queries every sweep shares;
- `service`: the sweep's tools, its counts, and its voids through the money runner;
- `expiry`: authorizations past their lifetime voided and ended `expired`;
- `compensation`: charges approved after their client got 202.
"""
