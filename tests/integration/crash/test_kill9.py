"""kill -9 of a real `opsroom run`, repeatedly, while lock-holding runs are in flight (issue
11 items 3 and 4), on SQLite and PostgreSQL.

Commands are posted through the web API; the server is SIGKILLed at random moments (only
the server: its runners' process groups survive it, as they would) and restarted. Then:
- no two runs under the one lock ever overlapped, judged from the timestamps the runner
  itself writes (an orphan left running after a restart would keep writing);
- the delivery marker and what the command produced are all-or-nothing: every delivery
  marked handled has exactly one outcome (a run, or a lock refusal), every outcome has its
  marker, and no command ran twice;
- no run is left running, and `opsroom audit verify` passes.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select
from tests.support.served import wait_healthy
from tests.support.system import demo_data_elsewhere

from opsroom.audit import AuditLog
from opsroom.core import RunState
from opsroom.runs import store as run_store
from opsroom.store import Database
from opsroom.store.tables import processed_events
from opsroom.web.sessions import create_token

pytestmark = pytest.mark.slow
HOLDER = Path(__file__).parents[2] / "support" / "lock_holder.py"
COMMANDS = 14
KILLS = 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`opsroom run` in its own process, started and SIGKILLed at will."""

    def __init__(self, tmp_path: Path, config: Path) -> None:
        self.tmp_path, self.config = tmp_path, config
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tmp_path / "opsroom.log"

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "opsroom.cli", "run", "--config", str(self.config), "--port", str(self.port)],
                cwd=self.tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=sink,
                env=dict(os.environ, OPSROOM_DEMO_SPEED="0.01"),
            )
        wait_healthy(self.base, self.process, self.log, seconds=30, interval=0.05)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def server(tmp_path: Path, db_url: str) -> Iterator[tuple[Server, Path, str]]:
    data: dict[str, Any] = demo_data_elsewhere()
    data["database"] = {"url": db_url}
    held = tmp_path / "held.log"
    data["commands"]["hold"] = {
        "summary": "holds the one lock for a moment",
        "args": [{"name": "tag", "type": "string", "pattern": "^t[0-9]+$"}],
        "runner": {"type": "exec", "argv": ["{python}", str(HOLDER), "{tag}", str(held)]},
        "lock": "the-one-lock",
        "timeout": "60s",
    }
    data["policy"]["rules"].append({"id": "anyone-holds", "allow": ["hold"], "users": ["*"]})
    config = tmp_path / "opsroom.yaml"
    config.write_text(yaml.safe_dump(data))
    db = Database.open(db_url)
    token, _ = create_token(db, "alice")
    db.dispose()
    srv = Server(tmp_path, config)
    try:
        yield srv, held, token
    finally:
        srv.stop()


def _intervals(held: Path) -> dict[str, tuple[float, float]]:
    spans: dict[str, list[float]] = {}
    for line in held.read_text().splitlines():
        tag, _what, at = line.split()
        spans.setdefault(tag, []).append(float(at))
    return {tag: (min(times), max(times)) for tag, times in spans.items()}


def test_kill9_loses_no_marked_command_and_never_overlaps_a_lock(server: tuple[Server, Path, str], db_url: str) -> None:
    srv, held, token = server
    rng = random.Random(int(os.environ.get("OPSROOM_KILL9_SEED", "11")))
    kill_after = sorted(rng.sample(range(1, COMMANDS), KILLS))
    posted: dict[int, str] = {}  # web message id -> tag
    srv.start()
    auth = {"Authorization": f"Bearer {token}"}
    for i in range(COMMANDS):
        resp = httpx.post(
            f"{srv.base}/api/channels/ops/messages", headers=auth, timeout=10, json={"text": f"/hold t{i}"}
        )
        assert resp.status_code == 201, resp.text
        posted[resp.json()["id"]] = f"t{i}"
        time.sleep(rng.uniform(0.05, 0.5))  # some runs start, some queue, some are refused
        if i in kill_after:
            srv.kill9()  # runners keep running: their groups are not the server's
            srv.start()  # recovery must end them before it frees the lock
    time.sleep(7)  # the last run finishes
    srv.stop()

    # No overlap under the lock, from what the runner processes wrote themselves.
    spans = sorted(_intervals(held).items(), key=lambda kv: kv[1][0])
    for (tag_a, (_, end_a)), (tag_b, (start_b, _)) in zip(spans, spans[1:], strict=False):
        assert end_a < start_b, f"{tag_a} still held the lock at {end_a} when {tag_b} started at {start_b}"

    db = Database.open(db_url, migrate=False)
    try:
        with db.read() as conn:
            runs = run_store.list_runs(conn, limit=1000)
            marked = {r.event_id for r in conn.execute(select(processed_events.c.event_id))}
        # Every outcome (a run, or a lock refusal) writes one command.received row.
        received = [e.summary.split()[-1] for e in AuditLog(db).search("action:command.received", limit=1000)]
    finally:
        db.dispose()
    assert not [r for r in runs if r.state in (RunState.RUNNING, RunState.QUEUED)]
    run_tags = [r.args["tag"] for r in runs]
    assert len(run_tags) == len(set(run_tags)), "a command ran twice"
    lost = []
    for message_id, tag in posted.items():
        outcomes = received.count(tag)
        assert outcomes <= 1, f"{tag} was handled {outcomes} times"
        assert (f"web:{message_id}" in marked) == (outcomes == 1), (
            f"{tag}: the delivery marker and the command's outcome did not commit together"
        )
        if not outcomes:
            lost.append(tag)
    # A web post is stored before the engine sees it; one cut off in between has neither
    # marker nor outcome (the web API has no redelivery). Shown, not hidden:
    print(f"runs {len(run_tags)}, refused {len(received) - len(run_tags)}, cut off before handling {lost}")
    assert len(run_tags) >= 3, "the loop ran too few commands to mean anything"
    verify = subprocess.run(
        [sys.executable, "-m", "opsroom.cli", "audit", "verify", "--config", str(srv.config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=srv.tmp_path,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
