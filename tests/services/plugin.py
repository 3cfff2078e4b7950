"""pytest fixtures for the real test services: `azurite`, `postgres`, `mariadb`.

Each is session-scoped and started on first use, so a run that needs no database starts
none; it is stopped at the end of the session. Under pytest-xdist every worker starts its
own instances (on their own ports). Missing binaries fail the tests that need them, naming
scripts/install-test-services, rather than skipping them: a skipped storage test would hide
a machine that CI cannot reproduce. The service modules are imported lazily so that loading
this plugin costs nothing for runs that do not use them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

import pytest

from tests.services import Service, ServiceError

if TYPE_CHECKING:
    from tests.services.azurite import Azurite
    from tests.services.mariadb import MariaDB
    from tests.services.postgres import Postgres

S = TypeVar("S", bound=Service)
#: Fixtures that start a real service: the shared ones, and ``oauth`` (a second Azurite over HTTPS).
SERVICE_FIXTURES = frozenset({"azurite", "postgres", "mariadb", "oauth"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "services: needs Azurite, PostgreSQL or MariaDB started by the fixtures")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use a service fixture, so `-m "not services"` runs without them."""
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


def _run(factory: Callable[[], S]) -> Iterator[S]:
    service = factory()
    error = None
    try:
        service.start()
    except ServiceError as exc:
        error = str(exc)
    if error is not None:
        pytest.fail(error, pytrace=False)
    print(f"\n[services] {service.name} ready on 127.0.0.1:{service.port} in {service.startup_seconds:.2f}s")
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """Azurite's blob service (account devstoreaccount1, well-known key), in memory."""
    from tests.services.azurite import Azurite

    yield from _run(Azurite)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server with password (scram-sha-256) authentication on 127.0.0.1."""
    from tests.services.postgres import Postgres

    yield from _run(Postgres)


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    """A MariaDB server with enforced grant tables on 127.0.0.1."""
    from tests.services.mariadb import MariaDB

    yield from _run(MariaDB)
