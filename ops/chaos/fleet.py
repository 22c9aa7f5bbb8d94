"""The gateway's own processes under test (API, workers, cron), started from the
`gateway` command exactly as in production, killed with SIGKILL by the run and
started again the way a process manager (systemd, Kubernetes) would."""

from __future__ import annotations

import contextlib
import signal
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

from gateway.cli.supervisor import Child, Supervisor

API = "api"
CRON = "cron"
_READY_TIMEOUT_S = 90.0
_FAULT_LOG = "fault.injected"  # gateway.core.faults' event


class Fleet:
    def __init__(
        self,
        environment: Mapping[str, str],
        *,
        api_port: int,
        workers: int,
        log_dir: Path,
        worker_environment: Mapping[str, str] | None = None,
        others: Sequence[Child] = (),
        probes: Sequence[Callable[[], bool]] = (),
    ) -> None:
        """`worker_environment`: set for the workers only (their own fault rate).
        `others`: processes the gateway's depend on (the sandbox), started,
        killed and revived the same way; `probes`: whether each answers."""
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.workers = [f"worker-{number}" for number in range(1, workers + 1)]
        children = [
            Child(API, ["serve", "--port", str(api_port)]),
            *(Child(name, ["worker"], dict(worker_environment or {})) for name in self.workers),
            Child(CRON, ["cron"]),
            *others,
        ]
        self.probes = probes
        self.log_dir = log_dir
        self.supervisor = Supervisor(children, environment, log_dir=log_dir)
        self._killed: set[int] = set()  # pids this run killed on purpose
        self.kills: Counter[str] = Counter()  # by us, per process kind
        self.self_kills: Counter[str] = Counter()  # SIGKILL from within (the fault hook)
        self.crashes: Counter[str] = Counter()  # any other exit: restarted all the same
        self.restarts = 0

    def child(self, name: str) -> Child:
        return next(child for child in self.supervisor.children if child.name == name)

    def start(self) -> None:
        self.supervisor.start()

    def kill(self, name: str) -> bool:
        """SIGKILL one process; False when it was already down."""
        child = self.child(name)
        if not child.running:
            return False
        assert child.process is not None
        self._killed.add(child.process.pid)
        with contextlib.suppress(ProcessLookupError):
            child.process.send_signal(signal.SIGKILL)
        child.process.wait()
        self.kills[_kind(name)] += 1
        return True

    def revive(self) -> list[str]:
        """Start again every process that is down; returns their names."""
        revived = []
        for child in self.supervisor.children:
            if child.running or child.process is None:
                continue
            pid, code = child.process.pid, child.process.returncode
            if pid not in self._killed:
                if code == -signal.SIGKILL:
                    self.self_kills[_kind(child.name)] += 1
                else:
                    self.crashes[_kind(child.name)] += 1
            self.supervisor.start_child(child)
            self.restarts += 1
            revived.append(child.name)
        return revived

    def faults_injected(self) -> Counter[str]:
        """The fault hook's kills, per process kind, from the processes' logs. A
        worker runs each job in a forked work horse, and the hook kills the horse:
        the worker lives on (RQ fails the job) and only its log tells."""
        fired: Counter[str] = Counter()
        for log in self.log_dir.glob("*.log"):
            with log.open(encoding="utf-8", errors="replace") as lines:
                fired[_kind(log.stem)] += sum(_FAULT_LOG in line for line in lines)
        return +fired

    def api_answers(self) -> bool:
        try:
            return httpx.get(f"{self.api_url}/api/v1/health/live", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_until_ready(self) -> None:
        """Every process up and the API answering; a hang detector, not a speed test."""
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while not (self.api_answers() and all(probe() for probe in self.probes)):
            self.revive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the fleet did not answer within {_READY_TIMEOUT_S:.0f}s")
            time.sleep(0.2)

    def stop(self) -> None:
        self.supervisor.stop()


def _kind(name: str) -> str:
    return "worker" if name.startswith("worker") else name
