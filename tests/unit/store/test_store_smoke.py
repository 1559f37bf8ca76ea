from sqlalchemy import insert, select

from opsroom.store import Database
from opsroom.store.tables import locks


def test_migrated_database_accepts_a_lock_row(db: Database) -> None:
    import datetime as dt

    with db.begin() as conn:
        conn.execute(insert(locks).values(key="deploy:api:prod", holder="alice", since=dt.datetime.now(dt.UTC)))
    with db.read() as conn:
        assert conn.execute(select(locks.c.holder)).scalar_one() == "alice"
