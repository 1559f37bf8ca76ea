"""The secret corpus against every sink: whole values, streamed output, and a served opsroom
(web chat, JSON API, audit export, tickets, its own log, the database's bytes and rows) on
SQLite and PostgreSQL. A secret that is printed by a command, typed into a message or an
argument, or raised in an exception must show nowhere."""

from __future__ import annotations

import io
import json
import logging
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect, text
from tests.integration.web.conftest import serve, wait_for
from tests.security.corpus import CORPUS, needles
from tests.support.system import demo_data

from opsroom import logs
from opsroom.policy.redaction import MASK, Redactor, StreamRedactor
from opsroom.web.sessions import create_token

SINGLE_LINE = [(kind, value) for kind, value, _ in CORPUS if "\n" not in value]


def leaks(found: str) -> list[str]:
    return [n for n in needles() if n in found]


def test_the_corpus_is_big_and_varied() -> None:
    assert len(CORPUS) >= 40 and len({kind for kind, _, _ in CORPUS}) >= 12


@pytest.mark.parametrize(("kind", "value", "parts"), CORPUS, ids=[f"{i}-{k}" for i, (k, _, _) in enumerate(CORPUS)])
def test_each_secret_is_masked_whole_and_in_a_sentence(kind: str, value: str, parts: tuple[str, ...]) -> None:
    redactor = Redactor()
    for shown in (value, f"deploy failed: {value} (retrying)", json.dumps({"config": value})):
        cleaned = redactor(shown)
        assert MASK in cleaned, kind
        assert not [p for p in parts if p in cleaned], (kind, cleaned)


def test_streamed_line_by_line_nothing_shows_and_ordinary_lines_stay() -> None:
    everything = "\n".join(["starting", *(v for _, v, _ in CORPUS), "done: 3 pods restarted"])
    stream = StreamRedactor(Redactor().redact)
    shown = [stream.feed(line + "\n")[0] for line in everything.split("\n")]
    shown.append(stream.finish()[0])
    output = "".join(shown)
    assert leaks(output) == []
    assert output.startswith("starting\n") and "done: 3 pods restarted" in output


def test_a_key_cut_off_by_the_end_of_the_stream_never_shows() -> None:
    _, key, parts = next(c for c in CORPUS if c[0] == "private key (OpenSSH)")
    stream = StreamRedactor(Redactor().redact)
    cut = key.split("\n")[:4]
    shown = "".join(stream.feed(line + "\n")[0] for line in cut) + stream.finish()[0]
    assert not [p for p in parts if p in shown] and MASK in shown


def test_ordinary_text_is_left_alone() -> None:
    redactor = Redactor()
    for plain in (
        "deploy api-gateway staging version=v4.13.1",
        "secret: true",
        "token expired at 10:02",
        "https://grafana.example.com/d/abc?orgId=1",
        "commit 3f9a1c2 by alice",
        "bypass=maintenance-window",
        "compass: north-east",
        "docker login --password-stdin registry.example.com",
        "kubectl create secret generic db --from-file=./creds",
        "max_tokens=4096 model=small",
        "the password was rotated by carol",
        "Authorization: required",
    ):
        assert redactor(plain) == plain


def test_a_quoted_value_is_masked_to_its_own_closing_quote() -> None:
    redactor = Redactor()
    for typed in (
        'passphrase: "don\'t tell 7Qx2vLp9 anyone"',
        "password='say \"hi\" to 7Qx2vLp9'",
        '{"password": "a b 7Qx2vLp9", "user": "bob"}',
    ):
        cleaned = redactor(typed)
        assert "7Qx2vLp9" not in cleaned and MASK in cleaned, cleaned
    assert redactor('{"password": "x", "user": "bob"}') == '{"password": "x", "user": "bob"}'


@pytest.mark.parametrize(
    "hostile",
    ["a-" * 64_000 + " token", "eyJ-" * 32_000, "--a-" * 32_000 + "pass", "<a." * 40_000 + "secret>"],
    ids=["dashed-words-then-a-key", "jwt-prefixes", "flag-like", "xml-like"],
)
def test_a_long_hostile_text_is_redacted_in_linear_time(hostile: str) -> None:
    """Everything typed in chat or printed by a job goes through these patterns on the event
    loop. Before, a 128 KB line of ``a-a-a-…`` followed by a secret word took minutes (each
    dash restarted a key-prefix scan to the end of the line). The alarm is far above what
    linear work takes on any machine (≈ 0.1 s here) and far below what quadratic work did."""
    import signal

    def stuck(*_: object) -> None:
        raise TimeoutError("redaction took quadratic time")

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(30)
    try:
        Redactor()(hostile)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def opsroom_log() -> Iterator[None]:
    """The process's logging put back after a test that sets up opsroom's own log (which it
    does in its body: pytest swaps the captured stderr between setup and call)."""
    import structlog

    root = logging.getLogger()
    saved = (root.handlers[:], root.level, structlog.get_config())
    yield
    root.handlers[:], level, config = saved
    root.setLevel(level)
    structlog.configure(**config)


@pytest.mark.usefixtures("opsroom_log")
def test_the_log_masks_messages_fields_and_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup("info", json=True)
    log = logging.getLogger("opsroom.test")
    _, token, _ = CORPUS[0]
    _, pem, parts = next(c for c in CORPUS if c[0] == "private key (PEM)")
    try:
        raise RuntimeError(f"login failed with {token}\n{pem}")
    except RuntimeError:
        log.exception("runner failed for %s", SINGLE_LINE[5][1])
    import structlog

    structlog.get_logger("opsroom.test").warning("webhook refused", body=SINGLE_LINE[9][1])
    err = capsys.readouterr().err
    assert "runner failed" in err and "Traceback" in err and "webhook refused" in err
    assert leaks(err) == []


@pytest.mark.usefixtures("opsroom_log")
def test_a_log_line_that_cannot_be_written_does_not_dump_the_raw_record(capsys: pytest.CaptureFixture[str]) -> None:
    """logging's default handleError prints the raw message and the exception being handled
    to stderr: with a secret in either, that is a leak of its own."""
    logs.setup("info", json=True)
    logging.getLogger().handlers[0].setStream(ClosedStream())  # type: ignore[attr-defined]
    try:
        raise RuntimeError(f"login failed with {CORPUS[0][1]}")
    except RuntimeError:
        logging.getLogger("opsroom.test").exception("failed with %s", SINGLE_LINE[9][1])
    err = capsys.readouterr().err
    assert "could not be written" in err and leaks(err) == []


class ClosedStream(io.StringIO):
    def write(self, _text: str) -> int:
        raise ValueError("I/O operation on closed file.")


def corpus_config(tmp_path: Path) -> dict[str, Any]:
    data = demo_data()
    printed = tmp_path / "printed.txt"
    printed.write_text("\n".join(v for _, v, _ in CORPUS) + "\n")
    data["commands"].update(
        {
            "leak": {
                "summary": "Print a file full of secrets",
                "runner": {"type": "exec", "argv": ["cat", str(printed)]},
            },
            "note": {
                "summary": "Keep a note (free text)",
                "args": [{"name": "text", "type": "string", "greedy": True}],
                "runner": {"type": "exec", "argv": ["echo", "noted"]},
                "on_success": [
                    {"action": "ticket.open", "options": {"title": "note: {raw_text}", "body": "{user} noted {args}"}}
                ],
            },
            "login": {
                "summary": "Log in somewhere with a password",
                "args": [{"name": "password", "type": "string", "secret": True}],
                "runner": {"type": "exec", "argv": ["echo", "logged in"]},
            },
            "explode": {
                "summary": "A Python runner that raises",
                "args": [{"name": "text", "type": "string", "greedy": True}],
                "runner": {"type": "python", "callable": "tests.security.leaky:explode"},
            },
        }
    )
    data["policy"]["rules"].append({"id": "corpus", "allow": ["leak", "note", "login", "explode"], "roles": ["sre"]})
    return data


def database_text(system: Any, db_url: str, tmp_path: Path) -> str:
    """Everything stored: the SQLite files' bytes, or every PostgreSQL row as text."""
    if db_url.startswith("sqlite"):
        system.db.dispose()  # checkpoint nothing away: read the main file and the WAL as they are
        return "".join(p.read_bytes().decode("latin-1") for p in tmp_path.glob("opsroom.db*"))
    chunks: list[str] = []
    with system.db.read() as conn:
        for table in inspect(conn).get_table_names():
            for (row,) in conn.execute(text(f'SELECT row_to_json(t)::text FROM "{table}" t')):
                chunks.append(row)
    return "\n".join(chunks)


@pytest.mark.usefixtures("opsroom_log")
async def test_no_sink_shows_any_secret(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.setup("info", json=True)
    async with serve(tmp_path, db_url, monkeypatch, corpus_config(tmp_path)) as web:
        token, _ = create_token(web.system.db, "alice")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=web.base, headers=headers, timeout=30) as api:

            async def say(words: str) -> None:
                response = await api.post("/api/channels/ops/messages", json={"text": words})
                assert response.status_code == 201, response.text

            await say("/leak")
            for i, (_, value) in enumerate(SINGLE_LINE):
                quoted = shlex.quote(value)  # typed as one argument, context and all
                await say(
                    f"/note {value}"
                    if i % 3 == 0
                    else f"/login {quoted}"
                    if i % 3 == 1
                    else f"/deploy api-gateway staging version={quoted}"
                )
            await say("/explode text=" + shlex.quote(" | ".join(v for _, v in SINGLE_LINE[:4])))
            for _, value, _ in CORPUS:  # pasted into the channel by mistake, multi-line ones too
                await say(value)

            async def settled() -> bool:
                runs = (await api.get("/api/runs", params={"limit": 200})).json()["runs"]
                return len(runs) >= 1 + 2 * (len(SINGLE_LINE) // 3) and all(
                    r["state"] not in ("queued", "running") for r in runs
                )

            await wait_for(settled, timeout=120)
            await web.adapter.drain()
            seen: list[str] = []
            runs = (await api.get("/api/runs", params={"limit": 200})).json()["runs"]
            seen.append(json.dumps(runs))
            for run in runs:
                seen.append((await api.get(f"/api/runs/{run['id']}/output")).text)
            seen.append((await api.get("/api/channels/ops/messages", params={"limit": 200})).text)
            seen.append((await api.get("/api/audit", params={"limit": 200})).text)
            seen.append((await api.get("/api/audit/export")).text)
            leak_run = next(r for r in runs if r["command"] == "leak")
            assert leak_run["state"] == "succeeded"
            assert MASK in (await api.get(f"/api/runs/{leak_run['id']}/output")).text
            assert any(r["command"] == "explode" and r["state"] == "failed" for r in runs)
        with web.system.db.read() as conn:
            tickets = [str(row) for row in conn.execute(text("SELECT * FROM tickets"))]
        assert tickets, "the note hook opened tickets"
        seen.extend(tickets)
        for found in seen:
            assert leaks(found) == [], found[:500]
        stored = database_text(web.system, db_url, tmp_path)
        assert "noted" in stored or "note" in stored
        assert leaks(stored) == []
    log = capsys.readouterr().err
    assert leaks(log) == []
