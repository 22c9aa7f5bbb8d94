"""The development control surface, `POST /_sandbox/{settle,review,outage}`:
what Authorize.Net's merchant interface would let its owner do. HTTP basic auth
with the sandbox's own credentials (login id : transaction key); JSON in and out."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any

from gateway.processors.simulator import NotHeld, SimulatorError, UnknownReference
from gateway.processors.simulator.identifiers import parse_transaction_id
from gateway.sandbox.asgi import BodyTooLarge, read_body
from gateway.sandbox.parts import Parts

Answer = tuple[int, bytes]


def _json(status: int, body: dict[str, Any]) -> Answer:
    return status, json.dumps(body).encode()


def _problem(status: int, detail: str) -> Answer:
    return _json(status, {"error": detail})


class Control:
    def __init__(self, parts: Parts, *, login_id: str, transaction_key: str) -> None:
        self._parts = parts
        self._expected = f"{login_id}:{transaction_key}".encode()

    async def handle(self, action: str, authorization: str | None, receive: Any) -> Answer:
        if not self._authorized(authorization):
            return _problem(401, "the sandbox's login id and transaction key are required")
        try:
            raw = await read_body(receive, limit=64 * 1024)
            body = json.loads(raw or b"{}")
        except (BodyTooLarge, ValueError):
            return _problem(400, "a JSON object is required")
        if not isinstance(body, dict):
            return _problem(400, "a JSON object is required")
        if action == "settle":
            return await self._settle(body)
        if action == "review":
            return await self._review(body)
        if action == "outage":
            return await self._outage(body)
        return _problem(404, f"no control {action!r}")

    def _authorized(self, authorization: str | None) -> bool:
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, self._expected)

    async def _settle(self, body: dict[str, Any]) -> Answer:
        report = await self._parts.simulator.settle(everything=body.get("now") is True)
        return _json(
            200,
            {
                "batch_id": report.batch_id,
                "cutoff": None if report.cutoff is None else report.cutoff.isoformat(),
                "settled": list(report.settled),
                "expired": list(report.expired),
            },
        )

    async def _review(self, body: dict[str, Any]) -> Answer:
        decision = body.get("decision")
        if decision not in ("approve", "decline"):
            return _problem(400, "decision must be approve or decline")
        transaction_id = parse_transaction_id(str(body.get("trans_id", "")))
        row = (
            None if transaction_id is None else await self._parts.reads.transaction(transaction_id)
        )
        if row is None:
            return _problem(404, "no such transaction")
        try:
            reviewed = await self._parts.simulator.review(row.reference, decision)
        except NotHeld:
            return _problem(409, "the transaction is not held for review")
        except (UnknownReference, SimulatorError) as error:
            return _problem(404, str(error))
        return _json(
            200, {"trans_id": reviewed.processor_transaction_id, "status": reviewed.status}
        )

    async def _outage(self, body: dict[str, Any]) -> Answer:
        on = body.get("on")
        if not isinstance(on, bool):
            return _problem(400, "on must be true or false")
        await self._parts.simulator.outage.turn(on=on)
        return _json(200, {"outage": on})
