import pytest

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.database",
    "tests.fixtures.app",
    "tests.fixtures.merchants",
    "tests.fixtures.payments",
    "tests.fixtures.sandbox",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with slow tests (real processes, the chaos run) first: `make test`
    hands whole files to its workers in this order, and a long file started last
    would leave the other workers idle while it finishes."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: file order kept
