"""Audit log of API mutations and the per-object event history (also the outbox)."""
