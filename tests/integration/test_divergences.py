"""Three places where opsroom used to disagree with itself, tried as a new user would."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.integration.test_reload_matrix import doc_blocks, merged
from tests.support.system import demo_data, make_system
from typer.testing import CliRunner

from opsroom.cli import app as cli
from opsroom.config.loader import LoadedConfig, validate


def test_policy_check_refuses_what_chat_refuses_by_channel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`policy check` used to say ALLOW for a command bound to #deploys typed in #ops."""
    monkeypatch.chdir(tmp_path)
    data = demo_data()
    data["channels"].append({"name": "#deploys"})
    data["commands"]["deploy"]["channels"] = ["#deploys"]
    config = tmp_path / "opsroom.yaml"
    config.write_text(yaml.safe_dump(data))
    runner = CliRunner()
    elsewhere = runner.invoke(
        cli, ["policy", "check", "-c", str(config), "--user", "alice", "--channel", "#ops", "deploy payments staging"]
    )
    assert elsewhere.exit_code == 1, elsewhere.output
    assert "DENY — `deploy` can only be run in #deploys" in elsewhere.output
    there = runner.invoke(
        cli,
        ["policy", "check", "-c", str(config), "--user", "alice", "--channel", "#deploys", "deploy payments staging"],
    )
    assert there.exit_code == 0 and "ALLOW" in there.output, there.output


async def test_reload_accepts_the_first_ssh_command(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reload used to refuse "unknown runner type 'ssh'" for a config a fresh start took."""
    system, _ = make_system(tmp_path, db_url, demo_data(), monkeypatch=monkeypatch)
    try:
        data = merged(demo_data(), *[b for b in doc_blocks("integrations/ssh.md")])
        for name, user in data["users"].items():
            user.setdefault("identities", {})["test"] = name
        summary = system.reload(LoadedConfig(validate(data, "test"), None, tmp_path), actor="test")
        assert "commands" in summary and "integrations" in summary
        assert system.engine.parts.catalog.get("doc-disk") is not None
        assert "doc-disk" in system.engine.parts.runners
    finally:
        system.db.dispose()


async def test_a_secret_argument_is_masked_in_chat_progress(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The progress message used to show `secret: true` arguments in clear."""
    data = demo_data()
    data["commands"]["rotate"] = {
        "summary": "Rotate a credential",
        "args": [{"name": "service", "type": "string"}, {"name": "token", "type": "string", "secret": True}],
        "runner": {"type": "exec", "argv": ["true"]},
    }
    data["policy"]["rules"].append({"id": "sre-rotates", "allow": ["rotate"], "roles": ["sre"]})
    system, chat = make_system(tmp_path, db_url, data, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", "/rotate payments hunter2-very-secret")
        await system.runs.drain()
        shown = "\n".join(m.text + repr(m.blocks) for p in chat.posts for m in p.versions)
        assert "rotate" in shown and "payments" in shown
        assert "hunter2-very-secret" not in shown
        entries = system.audit.search(system.audit.parse("rotate"), limit=50)
        assert entries and all("hunter2-very-secret" not in repr(e) for e in entries)
    finally:
        await system.stop()
        system.db.dispose()
