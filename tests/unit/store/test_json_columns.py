"""JSON columns (runs.args, runs.extra) hold exactly the text ``json.dumps`` gives, SQLAlchemy's
default: the engine's faster serializer (store/db.py JSON_TEXT) changes no stored byte."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from sqlalchemy import insert, select, text

from opsroom.store import Database, create_db_engine
from opsroom.store.tables import runs

AWKWARD: list[object] = [
    {},
    [],
    None,
    'a bare string with "quotes", a \\ and a newline\n',
    {"user": "zoë", "emoji": "😀", "cjk": "漢字", "lone": "\ud800", "ctrl": "\x00\x1f"},
    {"nested": {"deeper": [1, [2, [3, {"x": None}]]], "t": True, "f": False}},
    {"floats": [0.1, 1e-300, 1e300, -0.0, 2.5, 1 / 3], "big": 2**70, "neg": -7},
    {"odd": [math.inf, -math.inf]},
    {1: "int key", "2": "str key", None: "null key"},
    [("a", "tuple"), "→"],
]


@pytest.mark.parametrize("value", AWKWARD)
def test_a_json_value_is_stored_as_json_dumps_text(tmp_path: object, value: object) -> None:
    db = Database.open(f"sqlite:///{tmp_path}/json.db")  # type: ignore[str-bytes-safe]
    try:
        with db.begin() as conn:
            conn.execute(
                insert(runs).values(
                    command="deploy",
                    args=value,
                    raw_text="!deploy",
                    user="u",
                    platform="slack",
                    channel="#ops",
                    state="done",
                    created_at=dt.datetime(2026, 12, 4, tzinfo=dt.UTC),
                    extra={"value": value},
                )
            )
        with db.read() as conn:
            args, extra = conn.execute(text("SELECT args, extra FROM runs")).one()
            assert args == json.dumps(value)
            assert extra == json.dumps({"value": value})
            # and it reads back as it did
            assert conn.execute(select(runs.c.args)).scalar_one() == json.loads(json.dumps(value))
    finally:
        db.dispose()


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "postgresql://u:p@localhost/x"])
def test_both_backends_serialize_as_json_dumps(url: str) -> None:
    engine = create_db_engine(url)  # (no connection is made)
    serialize = engine.dialect._json_serializer  # type: ignore[attr-defined]
    for value in AWKWARD:
        assert serialize(value) == json.dumps(value)


def test_a_value_json_cannot_hold_is_refused_as_before() -> None:
    serialize = create_db_engine("sqlite:///:memory:").dialect._json_serializer  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        json.dumps({"when": dt.datetime(2026, 1, 1)})
    with pytest.raises(TypeError):
        serialize({"when": dt.datetime(2026, 1, 1)})
