"""Read-only SQL benchmark: prints its figures, is not a timed test.

1. The parser wall: median microseconds for ``check_read_only`` on a few typical queries.
2. A capped huge result: the time to get the first ``max_rows`` rows of a 24-million-row
   cross join (the database streams; only max_rows + 1 rows are ever fetched), on SQLite and,
   if reachable, PostgreSQL — in a read-only transaction with a statement timeout.

    .venv/bin/python bench/sql.py [--postgres URL | --postgres off]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from opsroom.integrations.sql.guard import check_read_only
from opsroom.integrations.sql.query import open_engine, run_query

QUERIES = (
    "select id, customer, total from orders where total > 100 order by id limit 50",
    "select customer, count(*), sum(total) from orders group by customer having count(*) > 2",
    "with recent as (select * from orders where id > 10) select r.customer from recent r join orders o on o.id = r.id",
)
HUGE = "select a.id, b.id, c.id from orders a, orders b, orders c, orders d, orders e"


def parser_figures(repeat: int = 300) -> None:
    for query in QUERIES:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            check_read_only(query, "postgresql")
            times.append(time.perf_counter() - start)
        print(f"check_read_only  {statistics.median(times) * 1e6:8.0f} µs median  ({query[:60]}…)")


def seed(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total NUMERIC)"))
        for i in range(1, 31):
            conn.execute(sa.text("INSERT INTO orders VALUES (:i, :c, :t)"), {"i": i, "c": f"c{i % 7}", "t": i})
    engine.dispose()


def capped(name: str, url: str, repeat: int = 5) -> None:
    engine = open_engine(url)
    times = []
    for _ in range(repeat):
        result = run_query(engine, HUGE, max_rows=100, timeout=30)
        times.append(result.seconds)
    assert result.truncated and len(result.rows) == 100
    print(f"{name:10} first 100 of 24,300,000 rows: {statistics.median(times) * 1000:7.1f} ms median of {repeat}")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    parser_figures()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'shop.db'}"
        seed(url)
        capped("SQLite", url)
    if args.postgres == "off":
        return
    schema = "bench_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = f"{args.postgres}?options=-csearch_path%3D{schema}"
        seed(url)
        capped("PostgreSQL", url)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
