"""The runbooks a config names, loaded and checked against its catalog."""

from __future__ import annotations

from pathlib import Path

from opsroom.commands.catalog import Catalog
from opsroom.config.runbooks import RunbooksConfig
from opsroom.core import ConfigError
from opsroom.runbooks.check import runbook_problems
from opsroom.runbooks.model import Runbook
from opsroom.runbooks.parse import load_runbooks


def runbook_folders(config: RunbooksConfig, base_dir: Path) -> list[Path]:
    return [Path(p) if Path(p).is_absolute() else (base_dir / p).resolve() for p in config.paths]


def load_library(config: RunbooksConfig, base_dir: Path, catalog: Catalog) -> list[Runbook]:
    """Every runbook, each checked; a ConfigError lists every problem (file and line)."""
    books = load_runbooks(runbook_folders(config, base_dir))
    problems = [p for book in books for p in runbook_problems(book, catalog)]
    if problems:
        raise ConfigError("\n".join(problems))
    return books
