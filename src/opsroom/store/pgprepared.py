"""A writer trip's statements as ``EXECUTE`` of statements prepared once per connection.

store/pgwrite.py sends a writer group's held-back statements as one simple-protocol query,
the parameters quoted into the text. The server then parses, analyses and plans every
statement of every trip: ≈ 35 % of its CPU with 20 commands at once, on the audit chain's
locked path ("Wave 9 — lead"). Here each distinct statement is prepared once on the
connection (``PREPARE``, its own trip, the first time it is seen) and the trip carries
``EXECUTE name(…)`` with the same quoted values: no planning after the first runs (the
plan cache), and an analysis of the arguments only.

- A run's UPDATE (any held-back statement with parameters): ``PREPARE`` of the same SQL,
  ``%s`` → ``$n``; the parameter types are inferred by the server from their place.
- The merged multi-row INSERTs (``later(…, merge=True)``: audit rows, run rows): one
  ``INSERT … SELECT * FROM unnest($1, …)`` per table and columns, one array per column of
  the column's type, whatever the number of rows. Measured on one group's 23 audit rows:
  ≈ 600 µs as literal VALUES, ≈ 450 µs this way (docs/performance.md, "Wave 12 — pg12").

Same rows, same order, same transaction: the values pass the column's own checks (length,
JSON) on assignment as before. A statement the server refuses to prepare (or whose SQL is
not a plain ``%s`` template) is sent as before, literally. Prepared statements are not
transactional: a ``PREPARE`` that ran stays even if its transaction rolls back, so each is
recorded as soon as its trip returns. A trip that fails for any reason but a missed guess
(store/pgwrite.py, ``GUESS_MISSED``) makes the connection start afresh under new names.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Any

MERGE = "\x00merge"  # (pgwrite._MERGE: the key of a merged INSERT)

_INSERT = re.compile(r"INSERT INTO (\S+) \(([^()]*)\)")
_CAST = r"(?:::(\w+(?: \w+)*))?"  # a placeholder's cast to a named type (SQLAlchemy's bind casts)
_ROW = re.compile(rf"\((?:%s{_CAST}, )*%s{_CAST}\)")  # placeholders and casts only
# A cast's type name as format_type() spells the column's type (the same type: same meaning).
_SPELLED = {"varchar": "character varying", "int": "integer", "float": "double precision", "bool": "boolean"}
_TYPES = (
    "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute"
    " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
)


class _Names:
    """What one connection has prepared: SQL (or ``(MERGE, head)``) -> name, None = literal."""

    __slots__ = ("names", "rows", "generation")

    def __init__(self) -> None:
        self.names: dict[Any, str | None] = {}
        self.rows: dict[str, str] = {}  # a merged INSERT's head -> one row's placeholders
        self.generation = 0


_by_connection: weakref.WeakKeyDictionary[Any, _Names] = weakref.WeakKeyDictionary()


Statement = tuple[str, Sequence[Any], "str | None"]  # (pgwrite.Statement)


def texts(raw: Any, cur: Any, statements: Sequence[Statement]) -> list[tuple[str, str | None]]:
    """The trip's statement texts and keys, merged INSERTs joined (in the place of the last
    of them, rows in order), prepared statements executed by name."""
    import psycopg

    known = _by_connection.get(raw)
    if known is None:
        known = _by_connection[raw] = _Names()
    last: dict[str, int] = {}
    for i, (sql, _params, key) in enumerate(statements):
        if key is MERGE:
            last[sql.partition(" VALUES ")[0]] = i
    merged: dict[str, list[tuple[str, Sequence[Any]]]] = {head: [] for head in last}
    out: list[tuple[str, str | None]] = []
    for i, (sql, params, key) in enumerate(statements):
        if key is MERGE:
            head = sql.partition(" VALUES ")[0]
            merged[head].append((sql, params))
            if last[head] == i:
                out.append((_merged(raw, cur, known, head, merged[head]), None))
            continue
        name = _name(raw, known, sql, params) if params and key is None else None
        if name is not None:
            try:
                out.append((cur.mogrify(f"EXECUTE {name}({', '.join(['%s'] * len(params))})", params), key))
                continue
            except psycopg.Error:  # a value psycopg cannot quote this way: the literal form
                pass
        out.append((cur.mogrify(sql, params) if params else sql, key))
    return out


def failed(raw: Any) -> None:
    """A trip failed (not a missed guess): prepare afresh, under new names, from now on
    (what the server refused to prepare stays literal)."""
    known = _by_connection.get(raw)
    if known is not None:
        known.names = {key: None for key, name in known.names.items() if name is None}
        known.generation += 1


def _merged(raw: Any, cur: Any, known: _Names, head: str, merged: list[tuple[str, Sequence[Any]]]) -> str:
    """One statement for a head's INSERTs (each of one or more rows), rows in order.

    The array literals are quoted here only on a UTF-8 connection (what opsroom's engines
    use): in a client encoding such as SJIS or GBK a character's second byte can be a
    backslash, and quoting there is left to the driver's own, encoding-aware quoting (the
    VALUES form) rather than reasoned about here."""
    found = _name_merged(raw, known, head, merged[0][0]) if raw.info.encoding == "utf-8" else None
    if found is not None:
        name, row = found
        width = row.count("%s")
        rows: list[Sequence[Any]] = []
        for sql, params in merged:
            count = len(params) // width
            if count * width != len(params) or sql != f"{head} VALUES {', '.join([row] * count)}":
                break
            rows.extend(params[i : i + width] for i in range(0, len(params), width))
        else:
            arrays = [_array(column, cur) for column in zip(*rows, strict=True)]
            if None not in arrays:
                return f"EXECUTE {name}({', '.join(a for a in arrays if a is not None)})"
    return f"{head} VALUES {', '.join(cur.mogrify(sql, params).partition(' VALUES ')[2] for sql, params in merged)}"


def _array(values: Sequence[Any], cur: Any = None) -> str | None:
    """A column's values as one array literal (untyped: the prepared parameter's type takes
    it); None for a value of another type (the statement is then sent as VALUES).

    psycopg's own list quoting costs ≈ 2.7× its per-row quoting (75 against 28 µs a row of
    the audit log); these few types, the writer's, are quoted here at a fraction of either:
    elements in double quotes with ``\\`` and ``"`` escaped, the whole as an ``E'…'``
    string (``\\`` and ``'`` escaped), whatever ``standard_conforming_strings`` says. Other
    values (JSON wrappers, decimals…) are put in the text psycopg's own dumper on ``cur``
    makes of them; none there: None."""
    parts: list[str] = []
    for value in values:
        kind = type(value)
        if value is None:
            parts.append("NULL")
        elif kind is str:
            if "\x00" in value:  # (PostgreSQL refuses it: psycopg's error, from the VALUES form)
                return None
            parts.append('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif kind is int:
            parts.append(str(value))
        elif kind is bool:
            parts.append("t" if value else "f")
        elif kind is float and math.isfinite(value):
            parts.append(repr(value))  # (exact: the shortest text that reads back as the same float)
        elif kind is datetime:
            parts.append(f'"{value.isoformat(sep=" ")}"')
        elif cur is not None and (dumped := _dumped(cur, value)) is not None:
            parts.append('"' + dumped.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            return None
    text = "{" + ",".join(parts) + "}"
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _same(cast: str, column: str) -> bool:
    """Whether a value cast to ``cast`` (or not cast) means the same once in ``column``:
    the column's own type, or text and varchar (without a length: the column checks it)."""
    return cast in ("", column) or {cast, column} == {"text", "character varying"}


def _dumped(cur: Any, value: Any) -> str | None:
    """The text psycopg's dumper for ``value`` makes of it (what its quoting would wrap)."""
    import psycopg
    from psycopg.adapt import PyFormat

    try:
        data = cur.adapters.get_dumper(type(value), PyFormat.TEXT)(type(value), cur).dump(value)
    except psycopg.Error:
        return None
    text = bytes(data).decode() if data is not None else None
    return text if text is not None and "\x00" not in text else None


def _name(raw: Any, known: _Names, sql: str, params: Sequence[Any]) -> str | None:
    if sql in known.names:
        return known.names[sql]
    name = None
    if "%%" not in sql and "%(" not in sql and sql.count("%s") == len(params):
        parts = sql.split("%s")
        body = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
        name = _prepare(raw, known, f"AS {body}")
    known.names[sql] = name
    return name


def _name_merged(raw: Any, known: _Names, head: str, sql: str) -> tuple[str, str] | None:
    """The prepared ``unnest`` INSERT for ``head`` and the placeholders of one row."""
    key = (MERGE, head)
    if key not in known.names:
        found = _INSERT.fullmatch(head)
        values = sql.partition(" VALUES ")[2]
        row = values[: values.find(")") + 1]
        columns = [c.strip().strip('"') for c in found.group(2).split(",")] if found is not None else []
        name = None
        if found is not None and _ROW.fullmatch(row) and len(columns) == row.count("%s"):
            unnest = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
            definition = f"AS {head} SELECT * FROM unnest({unnest})"  # noqa: S608 (the writer's own SQL)
            name = _prepare(raw, known, definition, (found.group(1), "\x00".join(columns), row))
        known.names[key] = name
        known.rows[head] = row
    name = known.names[key]
    return (name, known.rows[head]) if name is not None else None


def _prepare(raw: Any, known: _Names, definition: str, types: tuple[str, str, str] | None = None) -> str | None:
    """``PREPARE`` (after the column types' query, for ``types``: table, columns, one row's
    placeholders) on its own trip; None when the server refuses (then the statement stays
    literal on this connection). In the group's open transaction a refusal aborts it:
    raised, the writer runs the group's functions again alone."""
    import psycopg

    name = f"opsroom_w{known.generation}_{len(known.names)}"
    try:
        if types is not None:
            found = dict(raw.execute(_TYPES, (types[0],)).fetchall())
            columns = types[1].split("\x00")
            casts = [_SPELLED.get(c.lower(), c.lower()) for c in re.findall("%s" + _CAST, types[2])]  # or ""
            if not all(c in found and _same(cast, found[c]) for c, cast in zip(columns, casts, strict=True)):
                return None  # (a cast to another type than the column's: VALUES keeps its meaning)
            definition = f"({', '.join(f'{found[c]}[]' for c in columns)}) {definition}"
        raw.execute(f"PREPARE {name} {definition}")
    except psycopg.Error:
        if raw.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            raise
        return None
    return name
