"""Runs the gateway's processes as children and stops them all together."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its parent dies, even by SIGKILL, so
    nothing is left behind (children of `gateway up`, API workers of `serve`)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    arguments: Sequence[str]
    # Set on top of the supervisor's environment for this child only (the chaos
    # suite injects faults into workers at a rate of their own).
    environment: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    def __init__(
        self,
        children: Sequence[Child],
        environment: Mapping[str, str],
        *,
        log_dir: Path | None = None,
    ) -> None:
        self.children = list(children)
        self.environment = dict(environment)
        # None: children write to this process's stdout and stderr.
        self.log_dir = log_dir

    def start(self) -> None:
        for child in self.children:
            self.start_child(child)

    def start_child(self, child: Child) -> None:
        """Start (or start again) one child."""
        log = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = (self.log_dir / f"{child.name}.log").open("ab")
        try:
            # Own session: Ctrl-C reaches only the supervisor, which stops the
            # children in order instead of racing them.
            child.process = subprocess.Popen(  # noqa: S603 - our own command line
                [sys.executable, "-m", "gateway.cli", *child.arguments],
                env={**self.environment, **child.environment},
                start_new_session=True,
                stdout=log,
                stderr=subprocess.STDOUT if log else None,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - one prctl call, safe after fork
            )
        finally:
            if log is not None:
                log.close()  # the child holds its own copy

    def exited(self) -> Child | None:
        return next((child for child in self.children if not child.running), None)

    def stop(self, *, grace_s: float = 7.0) -> None:
        """SIGTERM every child, wait up to `grace_s`, then SIGKILL what is left."""
        for child in self.children:
            if child.running:
                assert child.process is not None
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
