"""Options every test shares: which database the run stores in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import database


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        default="sqlite",
        choices=database.BACKENDS,
        help="store in SQLite files (default) or a private PostgreSQL cluster",
    )


def pytest_configure(config: pytest.Config) -> None:
    database.choose(config.getoption("--database"))


def pytest_unconfigure(config: pytest.Config) -> None:
    database.stop()


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {database.backend()}"


@pytest.fixture(autouse=True)
def _own_database() -> Iterator[None]:
    """Each test's databases are dropped when it ends (PostgreSQL runs)."""
    yield
    database.drop_made()


@pytest.fixture
def database_url(tmp_path) -> str:
    """This test's own, empty database, on the run's backend."""
    return database.url_for(tmp_path)
