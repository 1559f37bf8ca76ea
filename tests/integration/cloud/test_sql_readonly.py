"""``/sql`` against real PostgreSQL and SQLite: reads come back as a table; writes, several
statements, side-effecting functions, long queries and huge results are refused or bounded
with a clear message, and nothing in the database changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.fakes.runctx import collect, final, make_ctx
from tests.support.system import demo_data, make_system

from opsroom.config.cloud import SqlSettings
from opsroom.integrations.sql.query import QueryFailed, open_engine, run_query
from opsroom.integrations.sql.runner import SqlRunner


def count(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()
    engine.dispose()
    return int(n)


def runner(url: str, **db: Any) -> SqlRunner:
    settings = SqlSettings.model_validate({"databases": {"shop": {"url_env": "SHOP_DB", **db}}})
    return SqlRunner({}, settings, env={"SHOP_DB": url})


async def sql(url: str, query: str, **db: Any) -> tuple[str, Any]:
    chunks = await collect(runner(url, **db), make_ctx({"database": "shop", "query": query}, timeout=60))
    return "".join(c.text for c in chunks if c.stream != "progress"), final(chunks)


async def test_a_select_comes_back_as_a_table_with_its_row_count(shop: str) -> None:
    out, last = await sql(shop, "select id, customer, total from orders where id <= 3 order by id")
    lines = out.splitlines()
    assert lines[0].split("|")[0].strip() == "id" and "customer" in lines[0]
    assert set(lines[1]) <= {"-", "+"}
    assert lines[2].split("|")[1].strip() == "customer-1"
    assert last.exit_code == 0 and last.result.startswith("3 rows")


async def test_a_literal_percent_reaches_the_database_as_typed(shop: str) -> None:
    out, last = await sql(shop, "select count(*) as n from orders where customer like 'customer-1%'")
    assert last.exit_code == 0 and out.splitlines()[2].strip() == "5"


@pytest.mark.parametrize(
    "query, why",
    [
        ("delete from orders", "not DELETE"),
        ("update orders set total = 0", "not UPDATE"),
        ("select 1; delete from orders", "one statement at a time"),
        ("select * from orders; drop table orders", "one statement at a time"),
        ("with gone as (delete from orders returning *) select * from gone", "contains DELETE"),
        ("select * into copy_of_orders from orders", "creates a table"),
        ("select * from orders for update", "locks rows"),
        ("select nextval('order_numbers')", "`nextval()` changes state"),
        ("create table x (a int)", "not CREATE"),
        ("selec * from orders", "does not parse"),
    ],
)
async def test_anything_but_one_read_is_refused_and_nothing_changes(shop: str, query: str, why: str) -> None:
    out, last = await sql(shop, query)
    assert last.exit_code == 2 and why in out, out
    assert count(shop) == 30
    assert sa.inspect(sa.create_engine(shop)).has_table("copy_of_orders") is False


async def test_the_database_itself_refuses_a_write_that_the_parser_cannot_see(shop: str) -> None:
    if not shop.startswith("postgresql"):
        pytest.skip("SQLite has no stored functions; its read-only wall is tested below")
    out, last = await sql(shop, "select add_order()")
    assert last.exit_code == 1
    assert "read-only transaction" in out
    assert count(shop) == 30


def test_the_read_only_connection_refuses_writes_even_without_the_parser(shop: str) -> None:
    engine = open_engine(shop)
    for statement in ("DELETE FROM orders", "INSERT INTO orders VALUES (500, 'x', 1)", "DROP TABLE orders"):
        with pytest.raises(QueryFailed, match="refused"):
            run_query(engine, statement, max_rows=10, timeout=5)
    assert count(shop) == 30


async def test_a_long_query_is_stopped_at_the_statement_timeout(shop: str) -> None:
    slow = (
        "select pg_sleep(30)"
        if shop.startswith("postgresql")
        else "with recursive n(i) as (select 1 union all select i + 1 from n where i < 500000000) "
        "select count(*) from n"
    )
    out, last = await sql(shop, slow, statement_timeout=1)
    assert last.exit_code == 1
    assert "ran longer than 1s and was stopped" in out


async def test_a_huge_result_is_cut_at_the_row_cap(shop: str) -> None:
    # 30^5 = 24 million rows that the database streams: only the first 26 are ever fetched
    huge = "select a.id, b.id, c.id from orders a, orders b, orders c, orders d, orders e"
    out, last = await sql(shop, huge, max_rows=25, statement_timeout=20)
    assert last.exit_code == 0
    assert len(out.strip().splitlines()) == 2 + 25  # the header, its rule, the rows
    assert "25 rows shown (the row cap); more rows matched" in last.result


async def test_an_unknown_database_or_missing_url_is_a_clear_answer(shop: str) -> None:
    chunks = await collect(runner(shop), make_ctx({"database": "billing", "query": "select 1"}))
    assert "no database named 'billing' (configured: shop)" in chunks[-1].text
    settings = SqlSettings.model_validate({"databases": {"shop": {"url_env": "UNSET_DB_URL"}}})
    chunks = await collect(SqlRunner({}, settings, env={}), make_ctx({"database": "shop", "query": "select 1"}))
    assert "$UNSET_DB_URL is not set" in chunks[-1].text


async def test_sql_in_chat_is_policy_checked_audited_and_redacted(
    tmp_path: Path, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_DB", shop)
    monkeypatch.setenv("SHOP_API_TOKEN", "tok-4242-very-secret")  # *_TOKEN values are redacted
    engine = sa.create_engine(shop)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE orders SET customer = 'tok-4242-very-secret' WHERE id = 1"))
    engine.dispose()
    data = demo_data()
    data["integrations"] = {"sql": {"databases": {"shop": {"url_env": "SHOP_DB", "max_rows": 5}}}}
    data["policy"]["rules"].append(
        {"id": "sre-reads-shop", "allow": ["sql"], "roles": ["sre"], "when": {"database": "shop"}}
    )
    system, chat = make_system(tmp_path, "sqlite:///" + str(tmp_path / "opsroom.db"), data, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", "/sql shop select id, customer from orders order by id")
        await system.runs.drain()
        shown = chat.transcript()
        assert "customer-2" in shown and "5 rows shown (the row cap)" in shown
        assert "tok-4242-very-secret" not in shown and "[REDACTED]" in shown
        await chat.say("bob", "/sql shop select 1")
        await system.runs.drain()
        assert "not allowed" in chat.texts()[-1].lower() or "⛔" in chat.texts()[-1]
        entries = system.audit.search(system.audit.parse("sql"), limit=50)
        text = repr(entries)
        assert "select id, customer from orders order by id" in text
        assert "5 rows shown" in text
        assert "tok-4242-very-secret" not in text
    finally:
        await system.stop()
        system.db.dispose()
    assert count(shop) == 30


async def test_private_results_stay_out_of_the_channel(
    tmp_path: Path, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opsroom.core import MessageEvent, Place

    monkeypatch.setenv("SHOP_DB", shop)
    data = demo_data()
    data["integrations"] = {"sql": {"databases": {"shop": {"url_env": "SHOP_DB"}}, "output": "private"}}
    data["policy"]["rules"].append({"id": "sre-reads-shop", "allow": ["sql"], "roles": ["sre"]})
    system, chat = make_system(tmp_path, "sqlite:///" + str(tmp_path / "opsroom.db"), data, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", "/sql shop select customer from orders where id = 3")
        await system.runs.drain()
        assert "customer-3" not in chat.transcript()
        assert "output is private" in chat.transcript()
        dm = Place("test", "D-alice", is_direct=True)
        assert chat.handler is not None
        await chat.handler(MessageEvent(dm, "alice", "/run 1", addressed=True))
        assert "customer-3" in chat.texts()[-1]
    finally:
        await system.stop()
        system.db.dispose()
