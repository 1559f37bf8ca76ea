"""WAL pages a command on SQLite, one at a time, and which b-trees they belong to.

The method of docs/performance.md "Wave 11 — one2": ``bench/dispatch.py``'s system and
commands, the WAL checkpointer stopped after the warm-up so every frame stays in the file;
the frames the measured commands added are read from the WAL's frame headers and each page
is named by ``dbstat``. Prints frames a command and, per b-tree, distinct pages a commit.

    .venv/bin/python bench/wal_frames.py [--n 1000] [--concurrency 1]
    .venv/bin/python bench/wal_frames.py --drop ix_audit_log_ts,ix_runs_created_at   # what-if
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import struct
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from dispatch import CONFIG, NullChat  # noqa: E402

from opsroom.app import build_system  # noqa: E402
from opsroom.config.loader import LoadedConfig, validate  # noqa: E402
from opsroom.core import MessageEvent, Place  # noqa: E402
from opsroom.store.db import Database  # noqa: E402


def wal_frames(path: Path) -> list[tuple[int, bool]]:
    """The valid frames of a WAL file: (page number, ends a commit), in order."""
    data = path.read_bytes()
    if len(data) < 32:
        return []
    page_size = struct.unpack(">I", data[8:12])[0]
    salts = data[16:24]
    out = []
    at = 32
    while at + 24 + page_size <= len(data):
        page, size_after = struct.unpack(">II", data[at : at + 8])
        if data[at + 8 : at + 16] != salts:
            break
        out.append((page, size_after != 0))
        at += 24 + page_size
    return out


async def run(url: str, n: int, concurrency: int, drop: list[str]) -> tuple[list[tuple[int, bool]], int]:
    if drop:
        migrate = Database.migrate

        def migrate_and_drop(self: Database) -> None:
            migrate(self)
            with self.engine.begin() as conn:
                for name in drop:
                    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")

        Database.migrate = migrate_and_drop
    chat = NullChat()
    system = build_system(LoadedConfig(validate(CONFIG, "bench"), None, Path.cwd()), adapters=[chat], database_url=url)
    await system.start()

    async def worker(w: int, count: int) -> None:
        place = Place("bench", f"c{w}", channel_name=f"#c{w}")
        for i in range(count):
            event = asyncio.Event()
            chat.done[f"c{w}"] = event
            await system.engine.handle(MessageEvent(place, f"user{w % 50}", f"/ping hello{i}"))
            await event.wait()

    await worker(999, 100)
    if system.db.checkpointer is not None:
        system.db.checkpointer.stop()
    await worker(998, 20)  # (a WAL that was checkpointed whole starts over at this write)
    wal = Path(url.removeprefix("sqlite:///") + "-wal")
    before = wal_frames(wal)
    await asyncio.gather(*(worker(w, n // concurrency) for w in range(concurrency)))
    await system.runs.drain()
    after = wal_frames(wal)
    await system.stop()
    system.db.dispose()
    if after[: len(before)] != before:
        raise SystemExit("the WAL started over during the run: try again")
    return after[len(before) :], n // concurrency * concurrency


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--drop", default="", help="indexes to drop after migrating (comma-separated), a what-if")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opsroom-wal-"))
    db_path = tmp / "bench.db"
    drop = [d for d in args.drop.split(",") if d]
    frames, commands = asyncio.run(run(f"sqlite:///{db_path}", args.n, args.concurrency, drop))
    with sqlite3.connect(db_path) as conn:
        names = dict(conn.execute("SELECT pageno, name FROM dbstat"))
    commits = [[]]  # type: list[list[int]]
    for page, ends in frames:
        commits[-1].append(page)
        if ends:
            commits.append([])
    commits = [c for c in commits if c]
    per_tree: Counter[str] = Counter()
    for pages in commits:
        for page in set(pages):
            per_tree["page 1" if page == 1 else names.get(page, "(new/free)")] += 1
    print(f"{commands} commands, {len(commits)} commits, {len(frames)} frames")
    print(f"frames a command: {len(frames) / commands:.2f}   commits a command: {len(commits) / commands:.2f}")
    print("distinct pages a command, by b-tree:")
    for name, count in per_tree.most_common():
        print(f"  {name:<28} {count / commands:6.2f}")


if __name__ == "__main__":
    main()
