"""The load generator: open-loop at a fixed or ramping rate, or closed-loop at a
fixed concurrency, with honest latencies.

Open loop: request i is due at its arrival time whatever happened to the others,
and its latency runs from that arrival, not from when the client got round to
sending it. A server that falls behind therefore shows the queue it builds
(no coordinated omission), which a closed loop or wrk's fixed connections hide.
Closed loop: `concurrency` clients send back to back for a while, to find the
most a server completes per second.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx

# A request of a scenario: sends request number i, True when the answer is the
# one expected. It raises nothing: a transport error is its own False.
Send = Callable[[httpx.AsyncClient, int], Awaitable[bool]]
TARGET_P95_MS = 500.0
# Requests in the server's hands at once; the others wait their turn here.
IN_FLIGHT = 256
# A request that has waited this long from its arrival is given up, sent or not.
GIVE_UP_S = 30.0


@dataclass(frozen=True)
class Segment:
    """`seconds` during which the rate goes linearly from `start` to `end` per second."""

    seconds: float
    start: float
    end: float


@dataclass(frozen=True)
class Profile:
    name: str
    segments: tuple[Segment, ...]

    @property
    def seconds(self) -> float:
        return sum(segment.seconds for segment in self.segments)

    def describe(self) -> str:
        parts = []
        for segment in self.segments:
            if segment.start == segment.end:
                parts.append(f"{segment.end:.4g}/s for {segment.seconds:g} s")
            else:
                parts.append(f"{segment.start:.4g}->{segment.end:.4g}/s in {segment.seconds:g} s")
        return ", then ".join(parts)

    def arrivals(self) -> list[float]:
        """When each request is due, in seconds from the start."""
        times: list[float] = []
        offset = 0.0
        carried = 0.0  # requests owed from the previous segment (a fraction)
        for segment in self.segments:
            slope = (segment.end - segment.start) / segment.seconds
            total = segment.start * segment.seconds + slope * segment.seconds**2 / 2
            k = 1.0 - carried
            while k <= total + 1e-9:
                # Solve start*t + slope*t^2/2 = k for t in [0, seconds].
                if abs(slope) < 1e-12:
                    at = k / segment.start
                else:
                    at = (-segment.start + math.sqrt(segment.start**2 + 2 * slope * k)) / slope
                times.append(offset + at)
                k += 1.0
            carried = total - (k - 1.0)
            offset += segment.seconds
        return times


def steady(rate: float, seconds: float) -> Profile:
    return Profile("steady", (Segment(seconds, rate, rate),))


def spike(peak: float, ramp_s: float, hold_s: float) -> Profile:
    return Profile("spike", (Segment(ramp_s, 0.0, peak), Segment(hold_s, peak, peak)))


def soak(rate: float, seconds: float) -> Profile:
    return Profile("soak", (Segment(seconds, rate, rate),))


@dataclass
class Result:
    """What one round measured."""

    latencies: list[float] = field(default_factory=list)  # of the requests answered as expected
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    offered: float = 0.0  # requests per second asked for (0: closed loop)
    cpu_s: float = 0.0  # the server's CPU over the round, when measured
    sent: int = 0  # requests that reached the wire (not given up before)

    @property
    def requests(self) -> int:
        return len(self.latencies) + sum(self.errors.values())

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile_ms(self, p: int) -> float:
        if not self.latencies:
            return math.nan
        if len(self.latencies) == 1:
            return self.latencies[0] * 1000
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[p - 1] * 1000

    @property
    def cpu_ms_per_request(self) -> float:
        """Per request sent: one given up before it was sent cost the server nothing."""
        return self.cpu_s * 1000 / self.sent if self.sent else math.nan


class Recorder:
    def __init__(self, in_flight: int = IN_FLIGHT) -> None:
        self.result = Result()
        # Ours rather than httpx's pool queue, whose cost grows with the requests
        # waiting in it: a backlog of thousands made the client the bottleneck.
        self.slots = asyncio.Semaphore(in_flight)

    async def timed(self, send: Send, client: httpx.AsyncClient, number: int, due: float) -> None:
        async with self.slots:
            left = GIVE_UP_S - (time.perf_counter() - due)
            if left <= 0:
                self.result.errors["gave up waiting to send"] += 1
                return
            self.result.sent += 1
            try:
                ok = await asyncio.wait_for(send(client, number), left)
            except (httpx.HTTPError, TimeoutError) as error:
                self.result.errors[type(error).__name__] += 1
                return
        if ok:
            self.result.latencies.append(time.perf_counter() - due)
        else:
            self.result.errors["unexpected answer"] += 1


def client(base_url: str, headers: dict[str, str], connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=GIVE_UP_S)


async def open_loop(
    http: httpx.AsyncClient, send: Send, arrivals: Sequence[float], *, offered: float
) -> Result:
    """Each request sent at its arrival time; latency from that time."""
    recorder = Recorder()
    tasks: list[asyncio.Task[None]] = []
    began = time.perf_counter()
    for number, offset in enumerate(arrivals):
        due = began + offset
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(recorder.timed(send, http, number, due)))
    await asyncio.gather(*tasks)
    recorder.result.seconds = max(time.perf_counter() - began, arrivals[-1] if arrivals else 0)
    recorder.result.offered = offered
    return recorder.result


async def closed_loop(
    http: httpx.AsyncClient, send: Send, *, concurrency: int, seconds: float
) -> Result:
    """`concurrency` senders back to back for `seconds`; latency of each request."""
    recorder = Recorder()
    numbers = iter(range(10**9))
    began = time.perf_counter()
    stop = began + seconds

    async def sender() -> None:
        while time.perf_counter() < stop:
            await recorder.timed(send, http, next(numbers), time.perf_counter())

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    recorder.result.seconds = time.perf_counter() - began
    return recorder.result
