"""docs/integrations/aws.md and docs/integrations/sql.md: their configuration, commands and
policy load as written, the chat lines they show are what opsroom says against the local AWS
server, and the key-rotation runbook passes ``opsroom check``."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.integration.test_reload_matrix import doc_blocks
from tests.support.system import demo_data, make_system
from typer.testing import CliRunner

from opsroom.cli import app as cli

from .conftest import Aws

DOCS = Path(__file__).resolve().parents[3] / "docs"


def with_docs(page: str, **environment: Any) -> dict[str, Any]:
    data = demo_data()
    for block in doc_blocks(page):
        for key, value in block.items():
            if key == "policy":
                data["policy"]["rules"].extend(value["rules"])
            elif key == "commands":
                data["commands"].update(copy.deepcopy(value))
            else:
                data[key] = copy.deepcopy(value)
    for env in data.get("integrations", {}).get("aws", {}).get("environments", {}).values():
        env.update(environment)
    return data


def chat_lines(page: str) -> list[str]:
    """The lines of the page's chat transcript block (the first plain ``` block with `alice:`)."""
    for lang, block in re.findall(r"^```(\w*)\n(.*?)^```", (DOCS / page).read_text(), flags=re.S | re.M):
        if not lang and block.startswith("alice:"):
            return [line.strip() for line in block.splitlines() if line.strip() and "…" not in line]
    raise AssertionError(f"{page} has no chat example")


async def test_the_aws_page_runs_as_written(tmp_path: Path, aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    data = with_docs("integrations/aws.md", endpoint_url=aws.endpoint)
    data["integrations"]["aws"]["poll_interval"] = 0.05
    system, chat = make_system(tmp_path, "sqlite:///" + str(tmp_path / "o.db"), data, monkeypatch=monkeypatch)
    await system.start()
    try:
        expected = chat_lines("integrations/aws.md")
        for line in expected:
            if line.startswith("alice: "):
                await chat.say("alice", line.removeprefix("alice: "))
                await system.runs.drain()
        shown = [s.strip() for s in chat.transcript().splitlines()]
        print(chat.transcript())
        for line in expected:
            if not line.startswith("alice: "):
                assert line.removeprefix("opsroom: ") in shown, line
    finally:
        await system.stop()
        system.db.dispose()


def test_the_key_rotation_runbook_passes_opsroom_check(tmp_path: Path) -> None:
    page = (DOCS / "integrations" / "aws.md").read_text()
    runbook = re.search(r"````markdown\n(.*?)````", page, flags=re.S)
    assert runbook is not None
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "rotate-ci-key.md").write_text(runbook.group(1))
    data = {
        key: value
        for key, value in with_docs("integrations/aws.md").items()
        if key in ("integrations", "commands", "policy")
    }
    data["commands"] = {k: v for k, v in data["commands"].items() if v.get("runner", {}).get("type") == "aws"}
    mine = ("sre-scales", "key-rotation-needs-a-lead")
    data["policy"]["rules"] = [r for r in data["policy"]["rules"] if r["id"] in mine]
    data["users"] = {"alice": {"roles": ["sre"]}, "carol": {"roles": ["sre-lead"]}}
    data["runbooks"] = {"paths": ["runbooks"]}
    config = tmp_path / "opsroom.yaml"
    config.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["check", "-c", str(config)])
    assert result.exit_code == 0, result.output


async def test_the_sql_page_runs_as_written(tmp_path: Path, shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_DB_URL", shop)
    system, chat = make_system(
        tmp_path, "sqlite:///" + str(tmp_path / "o.db"), with_docs("integrations/sql.md"), monkeypatch=monkeypatch
    )
    await system.start()
    try:
        expected = chat_lines("integrations/sql.md")
        for line in expected:
            for user in ("alice", "bob"):
                if line.startswith(f"{user}: "):
                    await chat.say(user, line.removeprefix(f"{user}: "))
                    await system.runs.drain()
        shown = [s.strip() for s in chat.transcript().splitlines()]
        print(chat.transcript())
        for line in expected:
            if not line.startswith(("alice: ", "bob: ")):
                assert line.removeprefix("opsroom: ") in shown, line
        assert "20 rows shown (the row cap); more rows matched" in chat.texts()[-2]
    finally:
        await system.stop()
        system.db.dispose()
