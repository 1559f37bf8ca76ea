"""The demo's catalog with fixed lists, so runbook checks need no running demo inventory."""

from __future__ import annotations

import pytest
import yaml

from opsroom.commands.catalog import Catalog
from opsroom.commands.lists import ChoiceLists
from opsroom.config.loader import DEMO_CONFIG


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    lists = ChoiceLists({"services": {"values": ["payments", "api-gateway", "checkout"]}})
    return Catalog.from_config(data["commands"], [], DEMO_CONFIG.parent, lists, plugins=False, source="none.yaml")
