"""The whole suite on SQLite and on PostgreSQL, side by side: ``python -m tests.both [args]``.

The two runs never share an Asterisk, an engine, a port or a database (see
tests/e2e/pbx.py and tests/database.py), and the end-to-end tests mostly wait
on real time (prompts, rings, calls), so running them at once takes little
longer than one. The SQLite run prints as it goes; the PostgreSQL run writes
test-artifacts/postgresql/pytest.log, whose summary (and failures) is printed
when it ends. The exit status is the worse of the two.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOG = REPO / "test-artifacts" / "postgresql" / "pytest.log"


def main(args: list[str]) -> int:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    pytest = [sys.executable, "-m", "pytest", *args]
    started = time.monotonic()
    with LOG.open("wb") as log:
        postgres = subprocess.Popen(
            [*pytest, "--database=postgresql"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            sqlite = subprocess.run(pytest, cwd=REPO, check=False).returncode
        finally:
            postgres_code = postgres.wait()
    text = LOG.read_text(encoding="utf-8", errors="replace")
    failures = text.find("= FAILURES =")
    errors = text.find("= ERRORS =")
    starts = [i for i in (failures, errors) if i >= 0]
    shown = text[min(starts) :] if starts else "\n".join(text.splitlines()[-15:])
    print(f"\n===== the same suite on PostgreSQL ({LOG.relative_to(REPO)}) =====")
    print(shown[-200_000:])
    minutes = (time.monotonic() - started) / 60
    print(f"both runs: sqlite={sqlite} postgresql={postgres_code} in {minutes:.1f} min")
    return max(sqlite, postgres_code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
