"""The processes the load suite measures: the gateway's own (`gateway serve
--workers N`, `gateway worker`, `gateway cron`, started as in production) and the
twin; their CPU over a round and each one's peak resident memory."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import psutil

from gateway.cli.supervisor import Child, Supervisor, die_with_parent

API = "api"
_READY_TIMEOUT_S = 90.0


def wait_until_live(url: str, alive: Callable[[], bool] | None = None) -> None:
    """Until GET /api/v1/health/live answers 200: a hang detector, not a speed test."""
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{url}/api/v1/health/live", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if alive is not None and not alive():
            raise RuntimeError(f"{url}: the server exited before it answered")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {_READY_TIMEOUT_S:.0f} s")
        time.sleep(0.1)


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its live children so far."""
    total = 0.0
    for process in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def _high_water_kb(pid: int) -> int:
    """VmHWM: the most resident memory the process ever had (Linux)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class MemoryWatch:
    """Samples each watched process tree twice a second: the peak resident set of
    its main process, and the largest of its children's (granian's workers, RQ's
    work horses, which may come and go between samples)."""

    def __init__(self) -> None:
        self.roots: dict[str, int] = {}
        self.peaks_kb: dict[str, int] = {}
        self.children: dict[str, int] = {}  # the most children seen at once
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, label: str, pid: int) -> None:
        self.roots[label] = pid

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def sample(self) -> None:
        for label, pid in list(self.roots.items()):
            tree = _tree(pid)
            if not tree:
                continue
            self._note(label, _high_water_kb(pid))
            kids = tree[1:]
            self.children[label] = max(self.children.get(label, 0), len(kids))
            for process in kids:
                self._note(f"{label} child", _high_water_kb(process.pid))

    def _note(self, label: str, kb: int) -> None:
        self.peaks_kb[label] = max(self.peaks_kb.get(label, 0), kb)


class GatewayFleet:
    """`gateway serve --workers N`, `gateway worker` and `gateway cron` on the
    run's database and Redis; the API can be started again with another N."""

    def __init__(self, environment: Mapping[str, str], *, port: int, log_dir: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.api_workers = 1
        self.supervisor = Supervisor(
            [self._api_child(1), Child("worker", ["worker"]), Child("cron", ["cron"])],
            environment,
            log_dir=log_dir,
        )

    def _api_child(self, workers: int) -> Child:
        return Child(API, ["serve", "--port", str(self.port), "--workers", str(workers)])

    def pid(self, name: str) -> int:
        child = next(child for child in self.supervisor.children if child.name == name)
        assert child.process is not None
        return child.process.pid

    def launch(self, api_workers: int) -> None:
        """Start every process; `wait` for the API to answer."""
        self.api_workers = api_workers
        self.supervisor.children[0] = self._api_child(api_workers)
        self.supervisor.start()

    def restart_api(self, api_workers: int) -> None:
        api = self.supervisor.children[0]
        if api.process is not None and api.running:
            api.process.send_signal(signal.SIGTERM)  # granian stops its workers
            api.process.wait(timeout=30)
        self.api_workers = api_workers
        self.supervisor.children[0] = self._api_child(api_workers)
        self.supervisor.start_child(self.supervisor.children[0])
        self.wait()

    def wait(self) -> None:
        api = self.supervisor.children[0]
        wait_until_live(self.url, lambda: api.running)

    def stop(self) -> None:
        self.supervisor.stop(grace_s=15)


class Twin:
    """`python -m ops.bench.twin` on its own scratch database."""

    def __init__(self, environment: Mapping[str, str], *, port: int, log_dir: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.environment = dict(environment)
        self.log = log_dir / "twin.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, workers: int) -> None:
        self.launch(workers)
        self.wait()

    def launch(self, workers: int) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(  # noqa: S603 - our own module
                [
                    sys.executable, "-m", "ops.bench.twin",
                    "--port", str(self.port), "--workers", str(workers),
                ],
                env=self.environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - one prctl call, safe after fork
            )  # fmt: skip

    def wait(self) -> None:
        process = self.process
        assert process is not None
        wait_until_live(self.url, lambda: process.poll() is None)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
