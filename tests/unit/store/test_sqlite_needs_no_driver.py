"""A SQLite install starts without PostgreSQL's driver: psycopg is 73 modules and ≈ 4 MiB
of a demo's idle memory, and nothing on SQLite calls it."""

from __future__ import annotations

import subprocess
import sys


def test_the_sqlite_write_path_does_not_import_psycopg() -> None:
    code = (
        "import sys, opsroom.app, opsroom.store.writer, opsroom.store.pgwrite, opsroom.audit.log, opsroom.runs.store;"
        "print('psycopg' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
