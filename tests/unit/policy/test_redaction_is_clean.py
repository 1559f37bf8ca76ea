"""``Redactor.is_clean``: the audit log's one look at a row's summary and detail. It may say
True only when ``clean`` gives every value back unchanged, wherever a secret hides."""

from __future__ import annotations

from opsroom.audit import AuditLog
from opsroom.audit.chain import AuditRecord
from opsroom.policy.redaction import Redactor

SECRETS = ["ghp_" + "a" * 36, "hunter2-value", "password=correct-horse", "AKIAIOSFODNN7EXAMPLE"]


def _places(secret: str) -> list[tuple[str, object]]:
    """(summary, detail) pairs with the secret in one spot each, nested too."""
    hidden = f"x {secret} y"
    return [
        (hidden, {"text": "plain"}),
        ("plain", {"text": hidden}),
        ("plain", {"args": {"service": "api", "note": hidden}}),
        ("plain", {"items": [1, None, True, hidden]}),
        ("plain", {"pair": ("a", (2.5, hidden))}),
        ("plain", {"deep": [{"k": [hidden]}]}),
    ]


def test_a_secret_anywhere_in_a_row_is_never_called_clean() -> None:
    redactor = Redactor(secret_values=["hunter2-value"])
    for secret in SECRETS:
        for summary, detail in _places(secret):
            assert not redactor.is_clean(summary, detail)
            assert secret not in repr((redactor(summary), redactor.clean(detail)))


def test_a_clean_row_is_clean_and_remembered() -> None:
    redactor = Redactor(secret_values=["hunter2-value"])
    detail = {"state": "succeeded", "exit_code": 0, "duration_s": 0.01, "args": {"service": "api"}, "lock": None}
    assert redactor.is_clean("run #7 succeeded (exit 0)", detail)
    assert redactor.clean(detail) == detail
    assert "run #7 succeeded (exit 0)" in redactor._known_clean  # later sinks need no second look


def test_an_anchored_pattern_makes_it_look_text_by_text() -> None:
    redactor = Redactor(patterns=[r"^\d{3}-\d{3}$"])
    assert not redactor.is_clean("plain", {"a": "plain"})
    assert redactor.clean({"a": "123-456"}) == {"a": "[REDACTED]"}


def test_the_audit_log_masks_what_is_clean_nowhere_else(tmp_path) -> None:
    from opsroom.store import Database

    db = Database.open(f"sqlite:///{tmp_path / 'a.db'}")
    log = AuditLog(db, redactor=Redactor(secret_values=["hunter2-value"]))
    with db.begin() as conn:
        log.append_many(
            conn,
            [
                AuditRecord("alice", "note", summary="plain", detail={"args": {"pw": "hunter2-value"}}),
                AuditRecord("alice", "note", summary="said hunter2-value", detail={"ok": True}),
                AuditRecord("alice", "note", summary="plain", detail={"ok": True}),
            ],
        )
    rows = log.search("", limit=10)
    shown = repr([(r.summary, r.detail) for r in rows])
    assert "hunter2-value" not in shown and shown.count("[REDACTED]") == 2
    assert log.verify().ok
    db.dispose()
