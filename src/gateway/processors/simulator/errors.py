"""Failures of the simulator's operator calls (review, script). The port's calls
never raise these: they answer with results or the port's own exceptions."""

from __future__ import annotations


class SimulatorError(Exception):
    """An operator asked for something the simulator's ledger cannot do."""


class UnknownReference(SimulatorError, LookupError):
    """No transaction was made with this reference."""


class NotHeld(SimulatorError):
    """The transaction exists but is not held for review."""


class UnknownPaymentMethod(SimulatorError, LookupError):
    """No live payment method has this token."""
