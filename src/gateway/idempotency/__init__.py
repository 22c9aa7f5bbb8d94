"""Idempotency-Key: the key and response store, and the phase runner of money moves."""
