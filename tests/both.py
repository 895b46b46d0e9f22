"""The whole suite on SQLite and on PostgreSQL, side by side: ``python -m tests.both [args]``.

The two runs never share an Asterisk, an engine, a port or a database: each
picks its ports from its own half of the test ranges (ACD_TEST_PORT_SLICE, see
tests/e2e/pbx.py) and runs its own database (tests/database.py). The end-to-end
tests mostly wait on real time (prompts, rings, calls), so running them at once takes little
longer than one. The SQLite run prints as it goes; the PostgreSQL run writes
test-artifacts/postgresql/pytest.log, whose summary (and failures) is printed
when it ends. The exit status is the worse of the two.
"""

from __future__ import annotations

import os
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
            [*pytest, "--database=postgresql"],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"ACD_TEST_PORT_SLICE": "1/2"},
        )
        try:
            sqlite = subprocess.run(
                pytest, cwd=REPO, check=False, env=os.environ | {"ACD_TEST_PORT_SLICE": "0/2"}
            ).returncode
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
