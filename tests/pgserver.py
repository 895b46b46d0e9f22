"""A private PostgreSQL cluster on a loopback port, for the tests (see tests/database.py)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


class PgServer:
    def __init__(self, port: int = 25432) -> None:
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="acd-pg-"))
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise RuntimeError("PostgreSQL server binaries missing: make bootstrap installs them")
        self.bin = Path(found[-1]).parent

    def _as_postgres(self, *args: str) -> None:
        command = [str(a) for a in args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> str:
        data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(
            self.bin / "initdb", "-D", data, "-U", "acd", "--auth=trust", "-E", "UTF8"
        )
        self._as_postgres(
            self.bin / "pg_ctl",
            "-D",
            data,
            "-l",
            self.dir / "log",
            "-w",
            "start",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
        )
        self._as_postgres(
            self.bin / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "acd", "acd"
        )
        return f"postgresql+asyncpg://acd@127.0.0.1:{self.port}/acd"

    def create_database(self, name: str, *, template: str | None = None) -> None:
        """A new, empty database (or a copy of ``template``, which nobody may be using)."""
        args = ["-T", template] if template else []
        self._as_postgres(self.bin / "createdb", *self._where, *args, name)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending whatever sessions it still has."""
        self._as_postgres(self.bin / "dropdb", *self._where, "--force", "--if-exists", name)

    @property
    def _where(self) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "acd"]

    def stop(self) -> None:
        try:
            # A cluster that never started has nothing to stop.
            with contextlib.suppress(subprocess.CalledProcessError):
                self._as_postgres(
                    self.bin / "pg_ctl", "-D", self.dir / "data", "-m", "immediate", "stop"
                )
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
