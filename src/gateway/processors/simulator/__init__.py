"""The built-in processor: Authorize.Net's sandbox imitated in-process, with the
deterministic triggers of ANET.md §9, its own ledger tables (`simulator_*`) and a
daily settlement at the cut-off."""

from gateway.processors.simulator.config import SimulatorConfig
from gateway.processors.simulator.errors import (
    NotHeld,
    SimulatorError,
    UnknownPaymentMethod,
    UnknownReference,
)
from gateway.processors.simulator.outage import LocalOutage, Outage, OutageSwitch
from gateway.processors.simulator.review import ReviewDecision
from gateway.processors.simulator.service import Simulator
from gateway.processors.simulator.settlement_report import SettlementReport
from gateway.processors.simulator.triggers import ScriptStep, parse_script

__all__ = [
    "LocalOutage",
    "NotHeld",
    "Outage",
    "OutageSwitch",
    "ReviewDecision",
    "ScriptStep",
    "SettlementReport",
    "Simulator",
    "SimulatorConfig",
    "SimulatorError",
    "UnknownPaymentMethod",
    "UnknownReference",
    "parse_script",
]
