pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.database",
    "tests.fixtures.app",
    "tests.fixtures.merchants",
    "tests.fixtures.payments",
    "tests.fixtures.sandbox",
]
