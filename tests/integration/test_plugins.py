"""The worked example of docs/plugins.md, as a user would add it: its step refuses in chat
and in `policy check` alike, its command answers, and a broken plugin is a clear error."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.support.system import demo_data, make_system

from opsroom.config.loader import LoadedConfig, validate
from opsroom.engine.check import check, place_of
from opsroom.features import all_plugins
from opsroom.plugins import Declaration, Plugin, declare_all
from opsroom.store.tables import audit_log

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def example_plugin() -> Plugin:
    code = next(b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S) if "plugin = Plugin(" in b)
    module = types.ModuleType("acme_opsroom.pinning")
    exec(compile(code, str(DOC), "exec"), module.__dict__)  # noqa: S102 — our own docs
    return module.plugin  # type: ignore[no-any-return]


async def test_the_documented_plugin_works_in_chat_and_in_check(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = demo_data()
    data["policy"]["rules"].append({"id": "all-see-pins", "allow": ["pins"], "users": ["*"]})
    system, chat = make_system(
        tmp_path, db_url, data, monkeypatch=monkeypatch, plugins=[*all_plugins(), example_plugin()]
    )
    assert "change review" in system.engine.parts.pipeline.slots
    await system.start()
    try:
        await chat.say("alice", "/deploy payments production")
        assert "needs a version, not `latest`" in chat.texts()[-1]
        await chat.say("alice", "/pins")
        assert "must name a version" in chat.texts()[-1]
        await chat.say("alice", "/deploy payments production version=v4.13.1")
        assert "needs approval" in chat.transcript()
        engine = system.engine
        verdict = await check(
            engine.parts.pipeline,
            engine.services,
            engine.parts.directory.get("alice"),
            place_of("#ops", "test"),
            "deploy payments production",
        )
        assert verdict.outcome == "deny" and "needs a version" in verdict.stop_text
        with system.db.read() as conn:
            refused = conn.execute(select(audit_log.c.id).where(audit_log.c.action == "pinning.refused")).all()
        assert len(refused) == 1  # chat wrote its row; the check wrote nothing
    finally:
        await system.stop()
        system.db.dispose()


def test_a_plugin_step_in_a_slot_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    from opsroom.engine.pipeline import Pipeline, Step

    async def nothing(ctx: object) -> None:
        return None

    with pytest.raises(ValueError, match="slot 'after lunch' does not exist"):
        Pipeline.build([Step("after lunch", nothing)])  # type: ignore[arg-type]


def test_two_plugins_may_not_declare_one_runner_type(tmp_path: Path) -> None:
    from opsroom.core import ConfigError

    twin = Plugin("twin", lambda loaded: Declaration(runner_types={"exec": lambda options: None}))  # type: ignore[dict-item,return-value,arg-type]
    loaded = LoadedConfig(validate(demo_data(), "test"), None, tmp_path)
    with pytest.raises(ConfigError, match="runner type 'exec' is declared by another plugin"):
        declare_all([*all_plugins(), twin], loaded)
