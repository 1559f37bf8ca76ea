"""The first wall of ``/sql``: the query must parse as exactly one read statement.

sqlglot parses the text in the database's dialect; anything that is not a single SELECT (a
set operation of SELECTs, or a parenthesised one) is refused, and so is a SELECT that writes
or locks (``SELECT … INTO``, ``FOR UPDATE``, a data-modifying CTE) or calls a function known
to change state. The second wall is the database's own read-only transaction (query.py): a
user-defined function that writes is refused there, since no parser can see inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from opsroom.errors import Refusal

# Functions that change state even inside a read-only transaction (or escape it), per
# dialect family; compared lower-case. Sequences, backends, config, files, locks, extensions.
SIDE_EFFECT_FUNCTIONS = frozenset(
    {
        "nextval",
        "setval",
        "currval",
        "lastval",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_switch_wal",
        "pg_create_restore_point",
        "pg_promote",
        "pg_notify",
        "set_config",
        "pg_advisory_lock",
        "pg_advisory_xact_lock",
        "pg_advisory_lock_shared",
        "pg_try_advisory_lock",
        "pg_try_advisory_xact_lock",
        "pg_advisory_unlock",
        "pg_advisory_unlock_all",
        "lo_import",
        "lo_export",
        "lo_unlink",
        "lo_create",
        "lo_from_bytea",
        "lo_put",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "pg_file_write",
        "dblink",
        "dblink_exec",
        "dblink_connect",
        "txid_current",
        "pg_current_xact_id",
        "load_extension",
        "writefile",
        "readfile",
        "edit",
        "fts3_tokenizer",
    }
)
# Anything of these kinds anywhere in the tree is a write, a lock or a session change.
WRITES: tuple[type[exp.Expression], ...] = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Command,
    exp.Copy,
    exp.Lock,
    exp.Into,
    exp.TruncateTable,
    exp.Set,
    exp.Pragma,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Use,
)
_DIALECTS = {"postgresql": "postgres", "sqlite": "sqlite"}


class QueryRefused(Refusal):
    """The query is not a single read statement; the message says why, for chat."""


@dataclass(frozen=True)
class CheckedQuery:
    text: str  # what runs: the original text, minus a trailing semicolon
    kind: str  # "SELECT", "UNION", …


def check_read_only(text: str, backend: str) -> CheckedQuery:
    """Parse ``text`` for ``backend`` (a SQLAlchemy backend name) and refuse anything but one
    read statement. Raises ``QueryRefused`` with a short reason."""
    dialect = _DIALECTS.get(backend, backend)
    stripped = text.strip().rstrip(";").strip()
    if not stripped:
        raise QueryRefused("the query is empty")
    try:
        statements = [s for s in sqlglot.parse(stripped, read=dialect, error_level=ErrorLevel.RAISE) if s is not None]
    except SqlglotError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise QueryRefused(f"the query does not parse: {first}") from None
    if len(statements) != 1:
        raise QueryRefused(f"one statement at a time: this has {len(statements)}")
    tree = statements[0]
    root = tree.this if isinstance(tree, exp.Subquery) else tree
    if not isinstance(root, (exp.Select, exp.SetOperation)):
        raise QueryRefused(f"only SELECT queries may run here, not {_kind(tree if root is None else root)}")
    for node in tree.walk():
        if isinstance(node, WRITES):
            raise QueryRefused(f"the query {_what(node)}: only reads may run here")
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if name in SIDE_EFFECT_FUNCTIONS:
                raise QueryRefused(f"`{name}()` changes state: it may not run here")
    return CheckedQuery(stripped, _kind(root))


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return str(node.sql_name()).lower()


def _kind(node: Any) -> str:
    if isinstance(node, exp.Command):
        return str(node.name).upper() or "a command"
    return type(node).__name__.upper()


def _what(node: exp.Expression) -> str:
    if isinstance(node, exp.Lock):
        return "locks rows (FOR UPDATE/SHARE)"
    if isinstance(node, exp.Into):
        return "creates a table (SELECT … INTO)"
    return f"contains {_kind(node)}"
