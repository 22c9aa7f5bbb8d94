"""Payments: transactions, their state machine, routes, service and repository."""
