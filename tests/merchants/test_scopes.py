from __future__ import annotations

import pytest

from gateway.core.errors import ValidationFailed
from gateway.merchants.scopes import Scope, grants, parse_scopes


def test_scopes_are_repeatable_and_comma_separated() -> None:
    assert parse_scopes(["payments:read,payments:write", "admin", "payments:read"]) == [
        Scope.PAYMENTS_READ,
        Scope.PAYMENTS_WRITE,
        Scope.ADMIN,
    ]


@pytest.mark.parametrize("values", [[], [""], ["payments:delete"], ["admin,root"]])
def test_unknown_or_missing_scopes_are_refused(values: list[str]) -> None:
    with pytest.raises(ValidationFailed):
        parse_scopes(values)


@pytest.mark.parametrize("required", list(Scope))
def test_admin_implies_every_scope(required: Scope) -> None:
    assert grants({"admin"}, required)
    assert grants({required.value}, required)


def test_a_scope_grants_nothing_else() -> None:
    assert not grants({"payments:read"}, Scope.PAYMENTS_WRITE)
    assert not grants({"payments:write"}, Scope.ADMIN)
