"""Outbound webhooks: what merchants hear of their objects (issue 18, API.md
"Webhooks / Outbound"). Signing comes first; endpoints and deliveries build on it."""
