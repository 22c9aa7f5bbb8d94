"""`booking serve` as a real process against the served gateway: started, asked,
SIGKILLed and started again by the tests."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.examples.served import BIN, REPOSITORY, ServedGateway

BOOKING = str(BIN / "booking")


@dataclass(frozen=True)
class BookingService:
    url: str
    process: subprocess.Popen[bytes]

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, timeout=30)

    def get(self, path: str) -> dict[str, Any]:
        response = httpx.get(f"{self.url}{path}", timeout=10)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def event(self, seats: int, price: int = 4500) -> str:
        created = self.post("/events", {"name": "Test show", "seats": seats, "price": price})
        assert created.status_code == 201, created.text
        return str(created.json()["id"])


def start(environment: dict[str, str]) -> BookingService:
    process = subprocess.Popen(  # noqa: S603 - the example's own command line
        [BOOKING, "serve"], cwd=REPOSITORY, env=environment
    )
    url = f"http://127.0.0.1:{environment['BOOKING_PORT']}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise AssertionError("booking serve never answered")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return BookingService(url, process)
        except httpx.TransportError:
            time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=30)


@dataclass
class BookingRunner:
    """The module's one booking service, on one port and database; tests may stop
    it and start it again with other settings (a fault to crash on)."""

    gateway: ServedGateway
    database_url: str
    port: int
    service: BookingService | None = field(default=None)

    def environment(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": self.gateway.environment.get("PATH", ""),
            "BOOKING_DATABASE_URL": self.database_url,
            "BOOKING_GATEWAY_URL": self.gateway.url,
            "BOOKING_GATEWAY_API_KEY": self.gateway.key,
            "BOOKING_PORT": str(self.port),
            # Short loops: recovery and expiry are seen within a second, not minutes.
            "BOOKING_SWEEP_INTERVAL_S": "0.3",
            "BOOKING_RECOVERY_GRACE_S": "1",
            **extra,
        }

    def restart(self, **extra: str) -> BookingService:
        self.stop()
        self.service = start(self.environment(**extra))
        return self.service

    def stop(self) -> None:
        if self.service is not None:
            stop(self.service.process)
            self.service = None

    @property
    def running(self) -> BookingService:
        if self.service is None or self.service.process.poll() is not None:
            return self.restart()
        return self.service


@contextmanager
def booking_runner(gateway: ServedGateway, database_url: str, port: int) -> Iterator[BookingRunner]:
    runner = BookingRunner(gateway, database_url, port)
    try:
        yield runner
    finally:
        runner.stop()
