"""The ``sql`` runner behind ``/sql <database> <query>``.

The database must be one of ``integrations.sql.databases`` (policy decides who may name
which: ``when: {database: analytics}``); the query passes guard.check_read_only, then runs
in a read-only transaction with the database's statement timeout and row cap. The output is
a table; the final line says how many rows, so the run's audit row carries the count. Output
goes through the redactor like every run's.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any

import sqlalchemy as sa

from opsroom.config.cloud import SqlDatabase, SqlSettings
from opsroom.core import ConfigError, OutputChunk, RunContext
from opsroom.integrations.sql.guard import QueryRefused, check_read_only
from opsroom.integrations.sql.query import QueryFailed, QueryResult, open_engine, run_query
from opsroom.integrations.sql.table import render_table
from opsroom.runs.runners.options import Options

TYPE = "sql"


class SqlRunner:
    def __init__(self, options: Mapping[str, Any], settings: SqlSettings, env: Mapping[str, str] | None = None) -> None:
        opts = Options(TYPE, options, ("database", "query"))
        self.database_template = opts.string("database", "{database}")
        self.query_template = opts.string("query", "{query}")
        self.settings = settings
        self._env = os.environ if env is None else env
        self._engines: dict[str, sa.Engine] = {}

    def check_args(self, arg_names: Collection[str]) -> None:
        for template in (self.database_template, self.query_template):
            name = template.strip("{}")
            if template.startswith("{") and name not in arg_names:
                raise ConfigError(f"sql runner: {template} is not an argument of the command")

    def _arg(self, template: str, ctx: RunContext) -> str:
        if template.startswith("{") and template.endswith("}"):
            return str(ctx.args.get(template[1:-1], ""))
        return template

    def _engine(self, name: str, db: SqlDatabase) -> sa.Engine:
        if name not in self._engines:
            url = self._env.get(db.url_env, "")
            if not url:
                raise QueryFailed(f"database {name}: ${db.url_env} is not set on the opsroom server")
            self._engines[name] = open_engine(url)
        return self._engines[name]

    async def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        name = self._arg(self.database_template, ctx)
        db = self.settings.databases.get(name)
        if db is None:
            known = ", ".join(sorted(self.settings.databases)) or "none"
            yield OutputChunk(text=f"no database named {name!r} (configured: {known})\n", stream="stderr", exit_code=2)
            return
        try:
            engine = self._engine(name, db)
            checked = check_read_only(self._arg(self.query_template, ctx), engine.dialect.name)
        except (QueryRefused, QueryFailed) as err:
            yield OutputChunk(text=f"refused: {err}\n", stream="stderr", exit_code=2, result=f"refused: {err}")
            return
        if ctx.dry_run:
            yield OutputChunk(text=f"dry run: would run this {checked.kind} on {name} read-only\n", exit_code=0)
            return
        yield OutputChunk(
            text=f"querying {name} (read-only, {db.statement_timeout:g}s, {db.max_rows} rows max)", stream="progress"
        )
        try:
            result = await asyncio.to_thread(
                run_query, engine, checked.text, max_rows=db.max_rows, timeout=db.statement_timeout
            )
        except QueryFailed as err:
            yield OutputChunk(text=f"{err}\n", stream="stderr", exit_code=1, result=str(err))
            return
        yield OutputChunk(text=self._render(result) + "\n", exit_code=0, result=_summary(result, db.max_rows))

    def _render(self, result: QueryResult) -> str:
        if not result.columns:
            return "(the statement returned no rows)"
        table = render_table(result.columns, result.rows, max_cell_chars=self.settings.max_cell_chars)
        return table


def _summary(result: QueryResult, cap: int) -> str:
    rows = len(result.rows)
    noun = "row" if rows == 1 else "rows"
    if result.truncated:
        return f"{rows} {noun} shown (the row cap); more rows matched · {result.seconds:.2f}s"
    return f"{rows} {noun} · {result.seconds:.2f}s"


def build(options: Mapping[str, Any], settings: SqlSettings) -> SqlRunner:
    return SqlRunner(options, settings)
