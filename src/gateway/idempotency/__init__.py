"""Idempotency-Key (the key and response store) and the money runner every money
movement goes through."""
