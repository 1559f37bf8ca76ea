"""Sign-in outside the demo (passwords, rate limits, CSRF) and the console pages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.integration.web.conftest import Served, demo_data, serve, wait_for

from opsroom.core import RunState
from opsroom.runs import store as run_store
from opsroom.web.passwords import hash_password


def production_config(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    data = demo_data()
    data["lists"] = {"services": {"values": ["api-gateway", "payments"]}}  # no demo inventory here
    data["demo"] = False
    data["users"]["alice"]["password_hash"] = hash_password("correct horse battery")
    return data


async def test_without_demo_a_password_is_required(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(tmp_path, db_url, monkeypatch, production_config(tmp_path)) as web:
        b = await web.browser()
        page = await b.http.get("/login")
        assert "Sign in as" not in page.text and "demo" not in page.text.lower()
        assert (await b.sign_in("bob")).status_code == 401, "no password hash: no sign-in"
        assert (await b.sign_in("alice", "wrong password!")).status_code == 401
        ok = await b.sign_in("alice", "correct horse battery")
        assert ok.status_code == 303
        assert (await b.http.get("/chat/ops")).status_code == 200
        actions = [e.action for e in web.system.audit.search("action:web.signin")]
        assert actions == ["web.signin"]


async def test_sign_in_attempts_are_rate_limited(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve(tmp_path, db_url, monkeypatch, production_config(tmp_path)) as web:
        b = await web.browser()
        codes = [(await b.sign_in("alice", f"guess {i}")).status_code for i in range(6)]
        assert codes == [401] * 5 + [429]
        # Even the right password waits now.
        blocked = await b.sign_in("alice", "correct horse battery")
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0


async def test_sign_in_form_needs_its_csrf_token_and_next_stays_local(web: Served) -> None:
    b = await web.browser()
    response = await b.http.post("/login", data={"username": "alice", "csrf": "forged"})
    assert response.status_code == 400 and "opsroom_session" not in response.headers.get("set-cookie", "")
    page = await b.http.get("/login", params={"next": "https://evil.example/"})
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = await b.http.post("/login", data={"username": "alice", "csrf": token, "next": "//evil.example/x"})
    assert response.status_code == 303 and response.headers["location"] == "/chat"


async def test_sign_out_ends_the_session_for_good(web: Served) -> None:
    alice = await web.browser("alice")
    cookie = alice.http.cookies.get("opsroom_session")
    page = await alice.http.get("/console/runs")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert (await alice.http.post("/logout", data={"csrf": csrf})).status_code == 303
    replay = await web.browser()
    replay.http.cookies.set("opsroom_session", cookie or "")
    assert (await replay.http.get("/chat/ops")).status_code == 303


async def test_console_runs_run_page_audit_and_dashboard(web: Served) -> None:
    alice = await web.browser("alice")
    await alice.post("ops", "/deploy api-gateway staging")
    await alice.post("ops", "/deploy nope staging")  # a parse error, audited
    await wait_for(lambda: _runs(web) and _runs(web)[0].state == RunState.SUCCEEDED)
    run = _runs(web)[0]
    runs = await alice.http.get("/console/runs", params={"state": "succeeded", "command": "deploy"})
    assert f"/console/runs/{run.id}" in runs.text and "deploy api-gateway staging" in runs.text
    empty = await alice.http.get("/console/runs", params={"state": "failed"})
    assert "No runs match" in empty.text
    assert (await alice.http.get("/console/runs", params={"state": "bogus", "before": "x"})).status_code == 200
    page = await alice.http.get(f"/console/runs/{run.id}")
    assert "Deploying api-gateway" in page.text and "service=api-gateway" in page.text
    assert "command.received" in page.text and "run.finished" in page.text
    assert (await alice.http.get("/console/runs/999999")).status_code == 404
    assert (await alice.http.get("/console/runs/99999999999999999999999")).status_code == 404
    stream = await alice.http.get(f"/console/runs/{run.id}/stream")
    assert "event: done" in stream.text and "succeeded" in stream.text
    audit = await alice.http.get("/console/audit", params={"q": "deploy user:alice"})
    assert "Hash chain verified" in audit.text and "command.received" in audit.text
    bad = await alice.http.get("/console/audit", params={"q": "since the heat death"})
    assert bad.status_code == 200 and 'class="error"' in bad.text
    dash = await alice.http.get("/console/dashboard")
    data = json.loads(re.search(r'id="dashboard-data">(.*?)</script>', dash.text, re.S).group(1))  # type: ignore[union-attr]
    assert sum(data["per_day"]["succeeded"]) == 1 and data["durations"]["commands"] == ["deploy"]
    assert "/static/vendor/chart.umd.min.js" in dash.text
    assert (await alice.http.get("/static/vendor/chart.umd.min.js")).status_code == 200


async def test_approve_from_the_console(web: Served) -> None:
    alice = await web.browser("alice")
    carol = await web.browser("carol")
    await alice.post("ops", "/deploy payments production")
    await wait_for(lambda: _runs(web) and _runs(web)[0].state == RunState.AWAITING_APPROVAL)
    run_id = _runs(web)[0].id
    mine = await alice.http.get("/console/approvals")
    assert f"/console/runs/{run_id}" in mine.text and "Nothing is waiting for you" in mine.text
    page = await carol.http.get("/console/approvals")
    assert f"/console/approvals/{run_id}/approve" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    forged = await carol.http.post(f"/console/approvals/{run_id}/approve", data={"csrf": "nope"})
    assert forged.status_code == 403
    done = await carol.http.post(f"/console/approvals/{run_id}/approve", data={"csrf": csrf})
    assert done.status_code == 303 and "flash=" in done.headers["location"]
    await wait_for(lambda: _runs(web)[0].state == RunState.SUCCEEDED)
    entry = next(e for e in web.system.audit.for_run(run_id) if e.action == "approval.approved")
    assert entry.actor == "carol" and entry.detail["via"] == "console"


def _runs(web: Served) -> list[run_store.RunRow]:
    with web.system.db.read() as conn:
        return run_store.list_runs(conn, limit=10)
