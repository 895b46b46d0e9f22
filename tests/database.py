"""The database the tests run on: SQLite files (the default) or PostgreSQL.

``pytest --database=postgresql`` runs every test that stores something on a
private PostgreSQL cluster (started once, on a free loopback port, dropped at
the end); each test folder gets its own fresh database, dropped after its test.
Helpers ask ``url_for(folder)`` for the URL a test's engine or config uses, so
the same test runs on either backend.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.e2e.pbx import free_tcp_port
from tests.pgserver import PgServer

BACKENDS = ("sqlite", "postgresql")

_backend = "sqlite"
_server: PgServer | None = None
_url: str | None = None
_made: dict[Path, str] = {}  # folder -> its database's name, until the test ends
_kept: dict[Path, str] = {}  # folder -> its database's name, for the whole run


def choose(backend: str) -> None:
    """Set the run's backend (from ``--database``)."""
    global _backend
    if backend not in BACKENDS:
        raise ValueError(f"--database must be one of {', '.join(BACKENDS)}, not {backend!r}")
    _backend = backend


def backend() -> str:
    """``sqlite`` or ``postgresql``: what this run stores in."""
    return _backend


def on_postgresql() -> bool:
    return _backend == "postgresql"


def cluster_url() -> str:
    """The run's PostgreSQL cluster (started at first use): its ``acd`` database's URL."""
    global _server, _url
    if _url is None:
        _server = PgServer(port=free_tcp_port())
        _url = _server.start()
    return _url


def url_for(folder: Path) -> str:
    """The URL of ``folder``'s own database: a file in it, or a fresh PostgreSQL database."""
    if _backend == "sqlite":
        return f"sqlite+aiosqlite:///{folder}/acd.db"
    return database_url(database_for(folder))


def database_for(folder: Path, *, template: str | None = None, keep: bool = False) -> str:
    """The name of ``folder``'s PostgreSQL database, made (as a copy of ``template``) at
    first ask; dropped when the test ends unless ``keep`` (then at the end of the run)."""
    folder = folder.resolve()
    name = _made.get(folder) or _kept.get(folder)
    if name is None:
        cluster_url()
        assert _server is not None
        name = "t_" + hashlib.sha1(str(folder).encode()).hexdigest()[:20]
        _server.create_database(name, template=template)
        (_kept if keep else _made)[folder] = name
    return name


def database_url(name: str) -> str:
    """The URL of one database of the run's cluster."""
    return cluster_url().rsplit("/", 1)[0] + "/" + name


def drop_made() -> None:
    """Drop the databases made since the last call (each test's own)."""
    if _server is None:
        return
    for name in _made.values():
        _server.drop_database(name)
    _made.clear()


def stop() -> None:
    """Stop the cluster and remove its files."""
    global _server, _url
    if _server is not None:
        _server.stop()
    _server, _url = None, None
    _made.clear()
    _kept.clear()
