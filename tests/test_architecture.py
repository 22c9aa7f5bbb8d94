"""DESIGN.md's layering, checked on the source: an AST walk over every module of
src/gateway and jobs, its imports (those inside functions and TYPE_CHECKING
blocks included) and its calls. A failure names the file, the line and what it
imports or calls.

Exceptions are explicit: `*_ALLOWED` dicts give the reason a module may, and the
`NOT_YET` dicts name the issue point that removes a violation still in the code.
A stale entry (the file is gone, or no longer does what the entry excuses)
fails too, so the lists only shrink.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "gateway"
JOBS = ROOT / "jobs"

# -- the exceptions ----------------------------------------------------------

# Imports `core` still makes of a domain package: {(file, imported module): point}.
CORE_IMPORTS_NOT_YET: Mapping[tuple[str, str], str] = {}

# `audit` reading idempotency's tables: {(file, imported module): point}.
AUDIT_IMPORTS_NOT_YET: Mapping[tuple[str, str], str] = {}

# Where a transaction may be committed without a reason: the request's edge, the
# money runner, and the entry points (a job or a command is its own edge).
COMMIT_EDGES: tuple[str, ...] = (
    "src/gateway/core/db.py",
    "src/gateway/idempotency/runner.py",
    "src/gateway/cli/",
    "jobs/",
)

COMMIT_ALLOWED: Mapping[str, str] = {
    "src/gateway/merchants/auth.py": (
        "the throttled last_used_at touch commits on a session of its own, before the"
        " request's transaction starts, so a rolled-back request still counts as a use"
    ),
    "src/gateway/idempotency/commands.py": (
        "the answer to a key already stored (a replay, a conflict) is the runner's own"
        " short transaction, holding the key's row lock"
    ),
    "src/gateway/payments/sweeps/compensation.py": (
        "a batch's bookkeeping that needs no processor (clearing charges that are no"
        " longer orphans, recording the settled ones) commits before its voids run,"
        " each through the money runner"
    ),
    "src/gateway/subscriptions/billing/tick.py": (
        "the billing tick's batch boundaries: each claimed batch commits, so a crash"
        " loses one batch's claims and never holds rows across processor calls"
    ),
    "src/gateway/subscriptions/clocks/advance.py": (
        "the clock advance's boundaries: the clock row's lock holder and each step's"
        " reconciliation commit on their own, as the billing tick's batches do"
    ),
    "src/gateway/vault/fingerprint_upgrade.py": (
        "the in-place upgrade of stored card fingerprints commits each batch, so it never"
        " holds every card row's lock while a deployment keeps serving"
    ),
    "src/gateway/webhooks/outbound/worker.py": (
        "a delivery sweep commits its leases before anything is sent (a worker that dies"
        " leaves leases that run out), and each attempt's outcome commits on its own"
    ),
    "src/gateway/webhooks/processing.py": (
        "an inbound event's outcome and its failure record each commit on their own:"
        " the failure must survive the rolled-back processing"
    ),
}

COMMIT_NOT_YET: Mapping[str, str] = {}

# Where an engine may be made: the composition root's one engine factory (every
# engine, the sandbox's included, gets the deployment's timeouts and pool there).
ENGINE_MAKERS: tuple[str, ...] = ("src/gateway/composition/resources.py",)
ENGINE_FUNCTIONS = frozenset({"create_engine", "create_async_engine"})

# What builds processors (and the registry that picks one): the composition root only.
PROCESSOR_BUILDING_CALLS = frozenset(
    {"Simulator", "Simulator.from_settings", "CircuitBreaker", "ResilientProcessor",
     "ProcessorRegistry", "AuthorizeNetConnector", "AuthorizeNetConnector.from_settings"}
)  # fmt: skip

# The root's builders (`composition.resources` is only the Resources type and the
# clients' constructors, which domain code may name): entry points only.
ROOT_BUILDERS = ("gateway.composition.process", "gateway.composition.processors")
ROOT_USERS: tuple[str, ...] = (
    "src/gateway/composition/",
    "src/gateway/app.py",
    "src/gateway/cli/",
    "jobs/",
)

# -- the walk ----------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    path: str  # relative to the repository
    line: int
    module: str  # the dotted name imported (a `from` import: module.name too)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.module}"


@dataclass(frozen=True)
class Call:
    path: str
    line: int
    name: str  # the called name as written: `f`, `x.f` keeps only `f`'s dotted tail

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: calls {self.name}()"


def source_files() -> list[Path]:
    return sorted([*PACKAGE.rglob("*.py"), *JOBS.rglob("*.py")])


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "src":
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _absolute(node: ast.ImportFrom, path: Path) -> str:
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


@cache
def imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for path in source_files():
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Import):
                found += [Import(relative(path), node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = _absolute(node, path)
                found += [
                    Import(relative(path), node.lineno, f"{module}.{alias.name}")
                    for alias in node.names
                ]
    return tuple(found)


def _called_name(function: ast.expr) -> str | None:
    if isinstance(function, ast.Name):
        return function.id
    if isinstance(function, ast.Attribute):
        owner = _called_name(function.value) if isinstance(function.value, ast.Name) else None
        return f"{owner}.{function.attr}" if owner else function.attr
    return None


@cache
def calls() -> tuple[Call, ...]:
    found: list[Call] = []
    for path in source_files():
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Call) and (name := _called_name(node.func)):
                found.append(Call(relative(path), node.lineno, name))
    return tuple(found)


def within(path: str, places: Iterable[str]) -> bool:
    return any(
        path == place or (place.endswith("/") and path.startswith(place)) for place in places
    )


def names(module: str, package: str) -> bool:
    """Whether an imported dotted name is `package` or inside it."""
    return module == package or module.startswith(package + ".")


def owner_of(module: str, excused: Mapping[tuple[str, str], str], path: str) -> str | None:
    """The excused imported module `module` stands for (a `from` import adds the name)."""
    for excused_path, excused_module in excused:
        if excused_path == path and names(module, excused_module):
            return excused_module
    return None


def report(rule: str, offences: Iterable[object]) -> str:
    lines = "\n".join(f"  {offence}" for offence in offences)
    return f"{rule}:\n{lines}"


# -- the rules ---------------------------------------------------------------

# Everything under gateway that is not core (DESIGN.md "Layout": one package per
# domain plus core/; the app, the command line and the composition root sit above
# them all, as do the RQ jobs).
DOMAIN_PACKAGES = (
    "gateway.merchants",
    "gateway.payments",
    "gateway.idempotency",
    "gateway.vault",
    "gateway.processors",
    "gateway.subscriptions",
    "gateway.webhooks",
    "gateway.audit",
    "gateway.composition",
    "gateway.cli",
    "gateway.app",
    "gateway.models",
    "jobs",
)


def _imports_from(prefix: str) -> Iterator[Import]:
    return (found for found in imports() if found.path.startswith(prefix))


def core_domain_imports() -> list[Import]:
    return [
        found
        for found in _imports_from("src/gateway/core/")
        if any(names(found.module, package) for package in DOMAIN_PACKAGES)
    ]


def test_core_imports_no_domain_package() -> None:
    offences = [
        found
        for found in core_domain_imports()
        if owner_of(found.module, CORE_IMPORTS_NOT_YET, found.path) is None
    ]
    assert not offences, report("core imports a domain package (DESIGN.md Layout)", offences)


def test_payments_imports_neither_subscriptions_nor_webhooks() -> None:
    offences = [
        found
        for found in _imports_from("src/gateway/payments/")
        if names(found.module, "gateway.subscriptions") or names(found.module, "gateway.webhooks")
    ]
    assert not offences, report(
        "payments imports subscriptions or webhooks (they follow its events instead)", offences
    )


def audit_idempotency_imports() -> list[Import]:
    return [
        found
        for found in _imports_from("src/gateway/audit/")
        if names(found.module, "gateway.idempotency")
    ]


def test_audit_imports_no_idempotency() -> None:
    offences = [
        found
        for found in audit_idempotency_imports()
        if owner_of(found.module, AUDIT_IMPORTS_NOT_YET, found.path) is None
    ]
    assert not offences, report("audit imports idempotency", offences)


def engine_calls() -> list[Call]:
    return [
        found
        for found in calls()
        if found.name.rsplit(".", 1)[-1] in ENGINE_FUNCTIONS
        and not within(found.path, ENGINE_MAKERS)
    ]


def test_create_engine_is_called_only_in_the_composition_root() -> None:
    offences = engine_calls()
    assert not offences, report(
        "an engine is made outside the composition root (gateway.composition)", offences
    )


def processor_builds() -> list[Call]:
    return [
        found
        for found in calls()
        if found.name in PROCESSOR_BUILDING_CALLS
        and not within(found.path, ("src/gateway/composition/",))
    ]


def test_processors_are_built_only_in_the_composition_root() -> None:
    offences = processor_builds()
    assert not offences, report(
        "a processor, breaker or registry is built outside the composition root", offences
    )


def test_only_entry_points_use_the_roots_builders() -> None:
    offences = [
        found
        for found in imports()
        if any(names(found.module, builder) for builder in ROOT_BUILDERS)
        and not within(found.path, ROOT_USERS)
    ]
    assert not offences, report(
        "a module below the entry points builds a process (it should be given one)", offences
    )


def commit_calls() -> list[Call]:
    return [
        found
        for found in calls()
        if found.name.rsplit(".", 1)[-1] == "commit" and not within(found.path, COMMIT_EDGES)
    ]


def test_commit_is_called_only_at_transaction_edges() -> None:
    offences = [
        found
        for found in commit_calls()
        if found.path not in COMMIT_ALLOWED and found.path not in COMMIT_NOT_YET
    ]
    assert not offences, report(
        "commit() outside core/db.py, the runner, jobs/, cli/ and the named exceptions",
        offences,
    )


def test_exception_lists_name_only_files_that_still_need_them() -> None:
    committing = {found.path for found in commit_calls()}
    stale = [
        f"{path}: {'no such file' if not (ROOT / path).exists() else 'no longer commits'}"
        for path in [*COMMIT_ALLOWED, *COMMIT_NOT_YET]
        if path not in committing
    ]
    both = set(COMMIT_ALLOWED) & set(COMMIT_NOT_YET)
    stale += [f"{path}: both allowed and not yet" for path in sorted(both)]
    for excused, found in (
        (CORE_IMPORTS_NOT_YET, core_domain_imports()),
        (AUDIT_IMPORTS_NOT_YET, audit_idempotency_imports()),
    ):
        still = {(item.path, owner_of(item.module, excused, item.path)) for item in found}
        stale += [
            f"{path}: {'no such file' if not (ROOT / path).exists() else 'no longer imports'}"
            f" {module}"
            for path, module in excused
            if (path, module) not in still
        ]
    edges = [*COMMIT_EDGES, *ENGINE_MAKERS, *ROOT_USERS]
    stale += [f"{place}: no such file or folder" for place in edges if not (ROOT / place).exists()]
    assert not stale, report("exception entries that are stale (remove them)", stale)


def test_the_walk_sees_the_code() -> None:
    """The rules above pass vacuously if the walk finds nothing: it must see the
    known edges."""
    assert any(
        found.path == "src/gateway/core/db.py" and found.name.endswith("commit")
        for found in calls()
    )
    assert any(
        found.path == "src/gateway/composition/resources.py"
        and found.name.endswith("create_async_engine")
        for found in calls()
    )
    assert any(
        found.path.startswith("jobs/") and found.name.endswith("commit") for found in calls()
    )
    assert any(
        names(found.module, "gateway.core") for found in _imports_from("src/gateway/payments/")
    )
