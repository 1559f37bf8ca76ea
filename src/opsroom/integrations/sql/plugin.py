"""The ``sql`` plugin: ``/sql <database> <query>`` when ``integrations.sql.databases`` is set,
and the ``sql`` runner type (for fixed-query catalog commands too). sqlglot and the database
drivers are imported when the first runner is built."""

from __future__ import annotations

from typing import Any

from opsroom.config.loader import LoadedConfig
from opsroom.core import CommandSpec
from opsroom.plugins import Declaration, Plugin


def _declare(loaded: LoadedConfig) -> Declaration:
    settings = loaded.config.integrations.sql

    def factory(options: Any) -> Any:
        from opsroom.integrations.sql.runner import SqlRunner

        return SqlRunner(options, settings)

    commands: tuple[CommandSpec, ...] = ()
    if settings.databases:
        from opsroom.integrations.sql.command import sql_command

        commands = (sql_command(settings),)
    return Declaration(runner_types={"sql": factory}, commands=commands)


SQL_PLUGIN = Plugin("sql", _declare)
