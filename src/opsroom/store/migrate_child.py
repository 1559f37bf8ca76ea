"""``python -m opsroom.store.migrate_child``: the spawned schema upgrade of
opsroom.store.migrate_apart (where the server cannot fork). It reads its request on stdin —
``{"url", "engine_options", "log_level", "json"}`` — logs as the server would, and on failure
prints one sentence on stdout and exits 1."""

from __future__ import annotations

import json
import sys


def main() -> int:
    request = json.loads(sys.stdin.read())
    from opsroom import logs
    from opsroom.store.db import create_db_engine
    from opsroom.store.migrate_apart import run_upgrade

    logs.setup(request["log_level"], json=request["json"])
    try:
        engine = create_db_engine(request["url"], **request["engine_options"])
    except Exception as exc:  # a URL it cannot use: one sentence too
        from opsroom.store.migrate_apart import reason

        print(reason(exc), flush=True)
        return 1
    return run_upgrade(engine, lambda why: print(why, flush=True))


if __name__ == "__main__":
    sys.exit(main())
