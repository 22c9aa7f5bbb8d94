from __future__ import annotations

from click.testing import CliRunner

from gateway.cli import main
from gateway.core.crypto import KeyRing


def test_generate_key_prints_an_entry_the_key_ring_accepts() -> None:
    result = CliRunner().invoke(main, ["crypto", "generate-key", "--kid", "k2026"])
    assert result.exit_code == 0, result.output
    entry = result.output.strip()
    assert entry.startswith("k2026:")
    assert KeyRing.parse(entry).active_kid == "k2026"


def test_generate_key_refuses_a_bad_key_id() -> None:
    result = CliRunner().invoke(main, ["crypto", "generate-key", "--kid", "no spaces!"])
    assert result.exit_code == 2
