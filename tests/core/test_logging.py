"""Redaction: no card number or secret reaches a log line."""

from __future__ import annotations

import json
import logging

import msgspec
import pytest
import structlog
from structlog.testing import capture_logs

from gateway.core.logging import (
    REDACTED,
    configure_logging,
    configure_logging_for,
    mask_card_numbers,
    redact,
)
from gateway.core.settings import Settings
from tests.support import TEST_CARD_NUMBERS


@pytest.mark.parametrize("number", TEST_CARD_NUMBERS)
def test_every_test_card_number_is_masked_in_text(number: str) -> None:
    masked = mask_card_numbers(f"charge card {number} now")
    assert number not in masked
    assert masked == f"charge card [CARD ...{number[-4:]}] now"


def test_grouped_card_numbers_are_masked() -> None:
    assert "4111" not in mask_card_numbers("4111 1111 1111 1111").replace("...1111", "")
    assert mask_card_numbers("4111-1111-1111-1111") == "[CARD ...1111]"


@pytest.mark.parametrize(
    "text",
    [
        "order 1234567890123 shipped",  # 13 digits failing Luhn
        "timestamp 1795302342078",  # not Luhn-valid either
        "amount 1500",
        "12345678901234567890123",  # longer than any card number
    ],
)
def test_other_digit_runs_are_left_alone(text: str) -> None:
    assert mask_card_numbers(text) == text


def test_sensitive_keys_are_redacted_at_any_depth() -> None:
    event = redact(
        None,
        "info",
        {
            "event": "payment.request",
            "body": {
                "amount": 1500,
                "payment_method": {"card": {"number": "4111111111111111", "cvv": "123"}},
            },
            "headers": {"Authorization": "Bearer gw_test_abc", "X-API-Key": "gw_test_abc"},
            "password": "hunter2",
            "secret": "s",
            "api_key": "gw_live_x",
            "card_number": 4111111111111111,
            "note": "customer typed 4007000000027 in the notes",
            "items": [{"cvv": "999"}, "5424000000000015"],
        },
    )
    rendered = json.dumps(event)
    for leaked in ("4111111111111111", "123", "gw_test_abc", "hunter2", "gw_live_x", "999"):
        assert leaked not in rendered.replace("1500", "")
    assert event["body"]["payment_method"]["card"]["number"] == REDACTED
    assert event["body"]["amount"] == 1500
    assert event["headers"]["Authorization"] == REDACTED
    assert event["note"] == "customer typed [CARD ...0027] in the notes"
    assert event["items"][1] == "[CARD ...0015]"


def test_redaction_runs_in_the_logging_pipeline() -> None:
    logger = structlog.get_logger("test")
    with capture_logs(processors=[redact]) as logs:
        logger.info("card.seen", number="4111111111111111", detail="pan 6011000000000012")
    assert logs == [
        {
            "event": "card.seen",
            "number": REDACTED,
            "detail": "pan [CARD ...0012]",
            "log_level": "info",
        }
    ]


def test_rendered_json_lines_hold_no_card_number(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", json=True)
    try:
        structlog.get_logger("test").info("x", text="card 4111111111111111")
        logging.getLogger("third.party").warning("raw %s", "5424000000000015")
        try:
            raise ValueError("bad card 370000000000002")
        except ValueError:
            structlog.get_logger("test").exception("failed")
    finally:
        configure_logging(level="INFO", json=True)
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.strip().splitlines()]
    assert len(lines) == 3
    for number in ("4111111111111111", "5424000000000015", "370000000000002"):
        assert number not in err
    assert "[CARD ...0002]" in lines[2]["exception"]


def test_production_logs_json_lines_unless_told_otherwise(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    production = msgspec.structs.replace(
        settings, core=msgspec.structs.replace(settings.core, env="production", log_json=None)
    )
    try:
        configure_logging_for(production)
        structlog.get_logger("test").info("http.request", route="/api/v1/x", status=200)
    finally:
        configure_logging(level="INFO", json=True)
    [line] = [json.loads(raw) for raw in capsys.readouterr().err.strip().splitlines()]
    assert (line["event"], line["route"], line["level"]) == ("http.request", "/api/v1/x", "info")
