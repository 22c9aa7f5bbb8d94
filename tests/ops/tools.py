"""Where the ops checks find their command-line tools: `make ops-tools`
(ops/install-tools.sh) puts promtool under .tools/bin and installs Debian's
docker-compose; kubectl is used from PATH. A tool that could not be had skips its
tests, saying which and why, rather than failing the suite on a machine without it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"


def tool(name: str) -> str:
    # The venv's own scripts (kubernetes-validate) are found without activating it.
    own = f"{ROOT / '.tools' / 'bin'}:{Path(sys.executable).parent}"
    found = shutil.which(name, path=own) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} not found: `make ops-tools` fetches it (see ops/install-tools.sh)")
    return found


def run(*command: str, cwd: Path = ROOT, timeout: float = 60) -> str:
    """stdout of a command that must succeed; its stderr in the failure otherwise."""
    done = subprocess.run(  # noqa: S603 - our own tools, fixed arguments
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout
