"""Batched writes of the alert tables at the driver's level on SQLite.

Intake writes a hundred rows per statement; SQLAlchemy's per-row parameter processing cost
more than SQLite's own work. ``many`` runs an INSERT or UPDATE through
``opsroom.store.db.DriverStatement`` (compiled once per set of keys, SQLAlchemy's own bind
processors, so the stored bytes are the same) and ``executemany`` on the driver's cursor.
A batch repeats its timestamps (``now`` in every row, alerts that started together), its
NULLs and booleans: each distinct one is turned into its stored form once. JSON columns (labels, annotations, change
times) are written by one reusable C encoder with ``json.dumps``' settings — the same text,
without building an encoder per value. PostgreSQL keeps ``conn.execute`` (its round trip
dominates there).
"""

from __future__ import annotations

import datetime as dt
import json.encoder
from collections import namedtuple
from functools import partial
from itertools import repeat
from operator import itemgetter
from typing import Any, Callable, Sequence

from sqlalchemy import Connection, DateTime, select

from opsroom.store.db import JSON_TEXT, DriverStatement, driver_execute, driver_executemany
from opsroom.store.types import UTCDateTime

# Values whose stored form a batch repeats (``now`` in every row, alerts that started
# together, no end time, False): immutable, so each is processed once per batch and column.
_REPEATED = frozenset({dt.datetime, bool, type(None)})
_MISSING = object()


def _once_per_value(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    seen: dict[Any, Any] = {}

    def processed(value: Any) -> Any:
        if value.__class__ not in _REPEATED:
            return process(value)
        found = seen.get(value, _MISSING)
        if found is _MISSING:
            found = seen[value] = process(value)
        return found

    return processed


# ``json.dumps(value)`` with its default settings builds a new C encoder on every call; one
# built once gives the same text (ASCII, ", " and ": ", NaN allowed) at a third of the cost.
_MAKE_ENCODER = getattr(json.encoder, "c_make_encoder", None)  # None without the C accelerator
_C_ENCODER = (
    _MAKE_ENCODER(None, None, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)
    if _MAKE_ENCODER is not None
    else None
)


def _json_text(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """SQLAlchemy's JSON bind processor, with dicts and lists encoded by ``_C_ENCODER``."""
    encode = _C_ENCODER
    if encode is None:
        return process

    last: list[Any] = [None, None]  # the value last encoded and its text

    def processed(value: Any) -> Any:
        if value is last[0]:  # the same object again (intake shares one change list per batch)
            return last[1]
        if value.__class__ is dict or value.__class__ is list:
            text = "".join(encode(value, 0))
            last[0], last[1] = value, text
            return text
        return process(value)

    return processed


def _json_dumps_text(conn: Connection) -> bool:
    """Whether the engine's JSON columns store ``json.dumps``'s text (SQLAlchemy's default, or
    opsroom's own once-built encoder with the same settings): then encoding here gives the same text."""
    serializer = getattr(conn.dialect, "_json_serializer", None)
    return serializer is None or serializer is JSON_TEXT


def _fast(conn: Connection, process: Callable[[Any], Any], sample: Any) -> Callable[[Any], Any]:
    if isinstance(sample, dict | list):
        if _json_dumps_text(conn):
            return _json_text(process)
        return process
    return _once_per_value(process)


def many(conn: Connection, statement: DriverStatement, rows: Sequence[dict[str, Any]]) -> None:
    """``conn.execute(statement, rows)``; every row must have the same keys."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(statement.statement, list(rows))
        return
    sql, names, procs = statement.compiled(conn, tuple(rows[0]))
    _execute_columns(conn, sql, procs, [list(map(itemgetter(name), rows)) for name in names])


def many_rows(
    conn: Connection, statement: DriverStatement, keys: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    """``many`` for rows given as tuples of the values of ``keys``, in that order: intake
    builds a hundred rows a batch, and a dict per row (then taken apart again column by
    column) cost more than the tuple. The same statement, processors and stored values."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(statement.statement, [dict(zip(keys, row, strict=True)) for row in rows])
        return
    sql, names, procs = statement.compiled(conn, keys)
    by_key = dict(zip(keys, map(list, zip(*rows, strict=True)), strict=True))
    _execute_columns(conn, sql, procs, [by_key[name] for name in names])


def _execute_columns(conn: Connection, sql: str, procs: Sequence[Any], columns: list[list[Any]]) -> None:
    """``executemany`` of ``sql`` over rows given column by column (in placeholder order), each
    column through its processor: the loops over rows run in C (map, zip), per value only the
    column's processor is Python."""
    for i, process in enumerate(procs):
        if process is not None:
            values = columns[i]
            columns[i] = _processed(conn, process, values[0], values)
    # A column that is NULL in every row (checked in C: the first value, then a count).
    nulls = tuple(i for i, values in enumerate(columns) if values[0] is None and values.count(None) == len(values))
    nulled = _with_nulls(sql, nulls, len(columns)) if nulls else None
    if nulled is not None:
        sql, columns = nulled, [values for i, values in enumerate(columns) if i not in nulls]
    driver_executemany(conn, sql, list(zip(*columns, strict=True)))


_NULLED: dict[tuple[str, tuple[int, ...]], str | None] = {}


def _with_nulls(sql: str, nulls: tuple[int, ...], count: int) -> str | None:
    """``sql`` with its placeholders at positions ``nulls`` written as ``NULL``: a column with
    no value in the whole batch (a new alert's ``notified_status``, an end time not yet
    known). The driver binds a None through its adapter look-up (a failed attribute look-up
    raised and cleared: ≈ 0.4 µs a value, an int's bind costs nothing like it); the literal
    stores the same NULL. None when the SQL does not have one ``?`` per column (then the
    values stay bound)."""
    key = (sql, nulls)
    if key not in _NULLED:
        parts = sql.split("?")
        _NULLED[key] = (
            parts[0] + "".join(("NULL" if i in nulls else "?") + part for i, part in enumerate(parts[1:]))
            if len(parts) == count + 1
            else None
        )
    return _NULLED[key]


def _processed(conn: Connection, process: Callable[[Any], Any], sample: Any, values: list[Any]) -> list[Any]:
    """``[process(v) for v in values]``, each distinct timestamp, NULL or boolean processed
    once, dicts and lists encoded by ``_C_ENCODER``: the same values, cheaper."""
    kinds = set(map(type, values))
    if kinds <= _REPEATED:  # immutable and hashable: process each once
        once = {v: process(v) for v in set(values)}
        return list(map(once.__getitem__, values))
    if _C_ENCODER is not None and kinds <= _JSON_KINDS and _json_dumps_text(conn):
        # Each distinct object encoded once (intake shares one change list across a batch),
        # every loop over the values in C (map, zip): no Python call or bytecode per value.
        encode, join, zeros = _C_ENCODER, "".join, repeat(0)
        by_id = dict(zip(map(id, values), values, strict=True))
        if len(by_id) == len(values):  # none shared (labels, annotations)
            return list(map(join, map(encode, values, zeros)))
        texts = dict(zip(by_id, map(join, map(encode, by_id.values(), zeros)), strict=True))
        return list(map(texts.__getitem__, map(id, values)))
    return list(map(_fast(conn, process, sample), values))


_JSON_KINDS = frozenset({dict, list})


_ROW_TYPES: dict[tuple[str, ...], Any] = {}
_READERS: dict[tuple[Any, ...], tuple[Any, list[Any]]] = {}
_MEMO_MAX = 20_000  # stored timestamps remembered per column reader


def _memo_text(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A timestamp column's result processor that turns each stored text into its (immutable)
    UTC datetime once: a batch reads the same groups' creation and due times again and again."""
    seen: dict[Any, Any] = {}

    def processed(value: Any) -> Any:
        if value is None:
            return process(value)
        found = seen.get(value)
        if found is None:
            if len(seen) >= _MEMO_MAX:
                seen.clear()
            found = seen[value] = process(value)
        return found

    processed.per_text = True  # type: ignore[attr-defined]  # _read_column: once per distinct text
    return processed


def _read_column(process: Callable[[Any], Any], column: Sequence[Any]) -> list[Any]:
    if getattr(process, "per_text", False):
        once = {v: process(v) for v in set(column)}
        return list(map(once.__getitem__, column))
    return list(map(process, column))


def _reader(dialect: Any, columns: Sequence[Any]) -> tuple[Any, list[Any]]:
    """(row type, result processor per column), built once per set of columns."""
    cache_key = (dialect.name, *columns)
    found = _READERS.get(cache_key)
    if found is None:
        names = tuple(c.name for c in columns)
        row_type = _ROW_TYPES.get(names)
        if row_type is None:
            row_type = _ROW_TYPES[names] = namedtuple("StoredRow", names)  # noqa: PYI024
        procs = []
        for c in columns:
            proc = c.type.dialect_impl(dialect).result_processor(dialect, None)
            if proc is not None and isinstance(c.type, DateTime | UTCDateTime):
                proc = _memo_text(proc)
            procs.append(proc)
        found = _READERS[cache_key] = (row_type, procs)
    return found


def rows_where_in(conn: Connection, columns: Sequence[Any], key: Any, values: Sequence[Any]) -> list[Any]:
    """``SELECT columns FROM their table WHERE key IN values`` (one table), rows with
    attribute access by column name. On SQLite the SQL goes to the driver and each column
    goes through SQLAlchemy's own result processor (UTC datetimes, booleans, JSON), so the
    values are those ``conn.execute(select(...))`` gives; SQLAlchemy's rendering of an
    expanding ``IN`` of a hundred values cost three times the query itself. Timestamps are
    converted once per distinct stored text (``_memo_text``)."""
    if not values:
        return []
    if conn.dialect.name != "sqlite":
        return list(conn.execute(select(*columns).where(key.in_(values))))
    row_type, procs = _reader(conn.dialect, columns)
    names = row_type._fields
    table = key.table.name
    sql = (
        f"SELECT {', '.join(names)} FROM {table} WHERE {key.name} IN ("  # noqa: S608 (names from the schema)
        + ", ".join(["?"] * len(values))
        + ")"
    )
    found = driver_execute(conn, sql, list(values)).fetchall()
    make = partial(tuple.__new__, row_type)  # the namedtuple of these values, built in C
    if not found or not any(procs):
        return list(map(make, found))
    # Column by column, so the loops over rows run in C: per value only a processor is Python,
    # and a timestamp column's (few distinct texts: groups created together) once per text.
    columns = [
        col if p is None else _read_column(p, col) for col, p in zip(zip(*found, strict=True), procs, strict=True)
    ]
    return list(map(make, zip(*columns, strict=True)))
