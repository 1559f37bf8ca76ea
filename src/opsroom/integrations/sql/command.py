"""``/sql <database> <query>``: the command the sql plugin declares (no database code here, so
declaring it imports nothing heavy)."""

from __future__ import annotations

from opsroom.config.cloud import SqlSettings
from opsroom.core import ArgSpec, ArgType, CommandSpec, RunnerSpec

TYPE = "sql"


def sql_command(settings: SqlSettings) -> CommandSpec:
    """``/sql <database> <query>``, declared when databases are configured."""
    names = tuple(sorted(settings.databases))
    return CommandSpec(
        "sql",
        summary="Run a read-only SQL query against a configured database",
        description="One SELECT; it runs in a read-only transaction with a time limit and a row cap. "
        f"Databases: {', '.join(names)}.",
        args=(
            ArgSpec("database", ArgType.ENUM, values=names, help="a configured database"),
            ArgSpec("query", greedy=True, max_length=2000, help="one SELECT statement"),
        ),
        examples=tuple(" ".join(("sql", n, "select count(*) from runs")) for n in names[:1]),
        runner=RunnerSpec(TYPE, {}),
        timeout=max((d.statement_timeout for d in settings.databases.values()), default=10.0) + 30.0,
        read_only=True,
        options={"output": settings.output},
    )
