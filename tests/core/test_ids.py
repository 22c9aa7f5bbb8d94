from __future__ import annotations

import re

import pytest

from gateway.core.ids import is_id, new_id


def test_ids_are_prefix_and_16_crockford_characters() -> None:
    value = new_id("txn")
    assert re.fullmatch(r"txn_[0-9A-HJKMNP-TV-Z]{16}", value)
    assert len(value) == 20, "fits Authorize.Net's refId and invoiceNumber (20 chars)"


@pytest.mark.parametrize(
    "prefix", ["mer", "key", "txn", "pm", "sub", "inv", "att", "clock", "evt", "we", "wep", "whd"]
)
def test_every_prefix_of_api_md(prefix: str) -> None:
    value = new_id(prefix)  # type: ignore[arg-type]
    assert value.startswith(prefix + "_")
    assert is_id(value, prefix)  # type: ignore[arg-type]


def test_ids_sort_by_creation_even_within_a_millisecond() -> None:
    values = [new_id("evt") for _ in range(5000)]
    assert values == sorted(values)
    assert len(set(values)) == len(values)


@pytest.mark.parametrize(
    "value", ["txn_short", "mer_06H00SCBHR9EQN4W", "txn_06H00SCBHR9EQN4I", "txn06H00SCBHR9EQN4W"]
)
def test_is_id_rejects_other_shapes(value: str) -> None:
    assert not is_id(value, "txn")
