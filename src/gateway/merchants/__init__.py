"""Merchants (our tenants), their API keys and scopes, and the auth guard."""
