"""A payment gateway: card payments, stored cards and subscriptions."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gateway")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
