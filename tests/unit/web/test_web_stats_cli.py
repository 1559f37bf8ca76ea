"""Dashboard figures, and `opsroom user` / `opsroom token` on a real config file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from sqlalchemy import insert
from typer.testing import CliRunner

from opsroom.cli import app
from opsroom.config.loader import DEMO_CONFIG
from opsroom.store import Database
from opsroom.store.tables import runs
from opsroom.web.passwords import verify_password
from opsroom.web.stats import dashboard, percentile

UTC = dt.UTC


def test_percentiles() -> None:
    assert percentile([1.0], 99) == 1.0
    assert percentile([float(i) for i in range(1, 101)], 50) == 50.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0


def test_dashboard_counts_outcomes_per_day_and_durations(db: Database) -> None:
    now = dt.datetime(2026, 3, 10, 12, tzinfo=UTC)
    rows = [
        ("deploy", "succeeded", 0, 10.0),
        ("deploy", "succeeded", 0, 30.0),
        ("deploy", "failed", 1, 5.0),
        ("restart", "denied", 1, None),
        ("deploy", "succeeded", 40, 1.0),
    ]  # 40 days ago: outside
    with db.begin() as conn:
        for command, state, days_ago, seconds in rows:
            created = now - dt.timedelta(days=days_ago, hours=1)
            conn.execute(
                insert(runs).values(
                    command=command,
                    args={},
                    raw_text=command,
                    user="alice",
                    platform="web",
                    channel="ops",
                    channel_name="#ops",
                    state=state,
                    fingerprint="",
                    dry_run=False,
                    created_at=created,
                    started_at=created if seconds is not None else None,
                    finished_at=created + dt.timedelta(seconds=seconds) if seconds is not None else None,
                    result="",
                    error="",
                    output="",
                    output_truncated=False,
                    extra={},
                    timeout=60,
                )
            )
    data = dashboard(db, days=14, now=now)
    assert data["days"][-1] == "2026-03-10" and len(data["days"]) == 14
    assert data["per_day"]["succeeded"][-1] == 2 and data["per_day"]["failed"][-2] == 1
    assert data["per_day"]["denied"][-2] == 1 and data["total_runs"] == 4
    assert data["durations"]["commands"] == ["deploy"]
    assert data["durations"]["p50"] == [10.0] and data["durations"]["p95"] == [30.0]


def test_user_add_and_passwd_keep_the_file_and_its_comments(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    Path("opsroom.yaml").write_text(DEMO_CONFIG.read_text())
    runner = CliRunner()
    added = runner.invoke(
        app,
        ["user", "add", "dave", "--role", "sre", "--role", "oncall", "--password-stdin"],
        input="a-long-password\n",
    )
    assert added.exit_code == 0, added.output
    again = runner.invoke(app, ["user", "add", "dave", "--no-password"])
    assert again.exit_code == 1 and "already exists" in again.output
    short = runner.invoke(app, ["user", "passwd", "alice", "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "too short" in short.output
    changed = runner.invoke(app, ["user", "passwd", "alice", "--password-stdin"], input="another-password\n")
    assert changed.exit_code == 0, changed.output
    assert runner.invoke(app, ["user", "passwd", "zed", "--password-stdin"], input="another-password\n").exit_code == 1
    assert runner.invoke(app, ["user", "add", "Bad Name", "--no-password"]).exit_code == 2
    text = Path("opsroom.yaml").read_text()
    assert "# Who is who." in text, "comments survive"
    users = yaml.safe_load(text)["users"]
    assert users["dave"]["roles"] == ["sre", "oncall"]
    assert verify_password(users["dave"]["password_hash"], "a-long-password")
    assert verify_password(users["alice"]["password_hash"], "another-password")
    assert users["alice"]["roles"] == ["sre"] and "a-long-password" not in text


def test_token_create_prints_it_once_and_stores_a_hash(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    Path("opsroom.yaml").write_text(DEMO_CONFIG.read_text())
    runner = CliRunner()
    created = runner.invoke(app, ["token", "create", "--user", "alice", "--name", "ci"])
    assert created.exit_code == 0, created.output
    token = next(line for line in created.output.splitlines() if line.startswith("opr_"))
    assert token.encode() not in Path("opsroom.db").read_bytes()
    listed = runner.invoke(app, ["token", "list"])
    assert "alice" in listed.output and token not in listed.output
    assert runner.invoke(app, ["token", "create", "--user", "nobody"]).exit_code == 1
    assert runner.invoke(app, ["token", "revoke", "1"]).exit_code == 0
    assert runner.invoke(app, ["token", "revoke", "99"]).exit_code == 1
    db = Database.open(f"sqlite:///{tmp_path / 'opsroom.db'}")
    from opsroom.web.sessions import check_token

    assert check_token(db, token) is None
    db.dispose()


def test_dashboard_shows_the_desk_deflection_rate(db: Database) -> None:
    from opsroom.desk.tables import desk_questions

    now = dt.datetime(2026, 3, 10, 12, tzinfo=UTC)
    outcomes = ["solved", "solved", "solved", "escalated", "dismissed", "suggested", "no_match"]
    with db.begin() as conn:
        for n, outcome in enumerate(outcomes):
            conn.execute(
                insert(desk_questions).values(
                    asker="bob",
                    platform="web",
                    channel="#help",
                    channel_id="help",
                    question=f"q{n}",
                    suggestions=[],
                    outcome=outcome,
                    asked_at=now - dt.timedelta(hours=n),
                )
            )
        conn.execute(
            insert(desk_questions).values(  # outside the window
                asker="bob",
                platform="web",
                channel="#help",
                channel_id="help",
                question="old",
                suggestions=[],
                outcome="escalated",
                asked_at=now - dt.timedelta(days=40),
            )
        )
    desk = dashboard(db, days=14, now=now)["desk"]
    assert desk == {"asked": 7, "solved": 3, "escalated": 1, "dismissed": 1, "open": 2, "deflection": 0.75}
    assert dashboard(db, days=14, now=now + dt.timedelta(days=100))["desk"]["deflection"] is None
