"""Inbound processor webhooks: verified, stored once, processed by workers."""
