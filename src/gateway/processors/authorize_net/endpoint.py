"""Where the connector posts: GATEWAY_AUTHORIZE_NET_ENVIRONMENT resolved to a URL.

`sandbox` is always Authorize.Net's public sandbox and `production` its live
endpoint; our own `gateway sandbox serve` is addressed by URL. A test run
(GATEWAY_ENV=test) may only reach the loopback interface, so no test can ever
post to a public host, whatever its settings say.
"""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import urlsplit

from gateway.core.setting_types import SettingsError
from gateway.core.settings import Environment

SANDBOX_URL: Final = "https://apitest.authorize.net/xml/v1/request.api"
PRODUCTION_URL: Final = "https://api.authorize.net/xml/v1/request.api"
URLS: Final = {"sandbox": SANDBOX_URL, "production": PRODUCTION_URL}

_LOOPBACK_NAMES: Final = frozenset({"localhost"})


def endpoint_url(environment: str) -> str:
    """The URL of a `sandbox`, `production` or URL environment setting."""
    return URLS.get(environment, environment)


def is_loopback(url: str) -> bool:
    """Whether the URL's host is on this machine's loopback interface (127.0.0.0/8,
    ::1 or localhost), judged from the URL alone: no name is looked up."""
    host = (urlsplit(url).hostname or "").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_url(environment: str, *, env: Environment) -> str:
    """The URL to post to, refused when a test run would leave the machine."""
    url = endpoint_url(environment)
    if env == "test" and not is_loopback(url):
        raise SettingsError(
            "GATEWAY_AUTHORIZE_NET_ENVIRONMENT: with GATEWAY_ENV=test the connector only"
            f" reaches the loopback interface (got {environment!r} → {url})"
        )
    return url
