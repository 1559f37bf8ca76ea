"""Secrets from config and the environment, and well-known token shapes, never survive."""

from __future__ import annotations

import pytest

from opsroom.config.models import OpsroomConfig
from opsroom.policy.redaction import MASK, Redactor, build_redactor, config_secrets


@pytest.mark.parametrize(
    "leak",
    [
        "AKIAABCDEFGHIJKLMNOP",
        "xoxb-123456789012-abcdefghijkl",
        "ghp_" + "a" * 36,
        "glpat-" + "b" * 20,
        "Bearer abcdefghijklmnopqrstuvwxyz",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        "sk_live_" + "c" * 24,
        "hvs." + "d" * 24,
    ],
)
def test_token_shapes(leak: str) -> None:
    text, count = Redactor().redact(f"before {leak} after")
    assert leak not in text and MASK in text and count >= 1


@pytest.mark.parametrize(
    "line, kept",
    [
        ("postgres://deploy:hunter22@db/app", "postgres://"),
        ('{"password": "hunter22"}', '"password": "'),
        ("api_key=zzzz9999&x=1", "api_key="),
    ],
)
def test_keyed_secrets_keep_the_key(line: str, kept: str) -> None:
    text, _ = Redactor().redact(line)
    assert "hunter22" not in text and "zzzz9999" not in text and kept in text


def test_harmless_text_is_left_alone() -> None:
    assert Redactor().redact("token_count=5 and the secret of life is 42") == (
        "token_count=5 and the secret of life is 42",
        0,
    )


def test_build_redactor_collects_config_and_environment_secrets() -> None:
    env = {
        "PAGER_TOKEN": "pager-abc-123",
        "DB_PASSWORD": "hunter2hunter2",
        "ALERT_HMAC": "hmac-value-1",
        "HOME": "/root",
    }
    config = OpsroomConfig.model_validate(
        {
            "secrets": [],
            "guardrails": {"redaction": {"env": ["ALERT_HMAC"], "patterns": [r"\bcust-[0-9]{6}\b"]}},
        }
    )
    redactor = build_redactor(config, env=env)
    text, count = redactor.redact("pager-abc-123 hunter2hunter2 hmac-value-1 cust-123456 /root")
    assert text == f"{MASK} {MASK} {MASK} {MASK} /root" and count == 4


def test_config_secrets_finds_values_and_env_names() -> None:
    values, names = config_secrets(
        {
            "chat": {"slack": {"bot_token": "xoxb-x", "signing_secret": "${X}"}},
            "alerts": {"sources": [{"token_env": "AM_TOKEN", "name": "am"}]},
        }
    )
    assert values == {"xoxb-x"} and names == {"AM_TOKEN"}


def test_a_text_seen_clean_is_remembered_but_a_secret_never_is() -> None:
    """Texts recur across sinks (audit rows, chat, run rows): a clean one is scanned once;
    a text that held a secret is not kept, and is masked again every time."""
    redactor = Redactor(secret_values=["hunter2-value"])
    assert redactor.redact("deploy api to staging") == ("deploy api to staging", 0)
    assert "deploy api to staging" in redactor._known_clean
    leaked = "token=hunter2-value and ghp_" + "a" * 36
    for _ in range(2):
        cleaned, count = redactor.redact(leaked)
        assert "hunter2-value" not in cleaned and "ghp_" not in cleaned and count >= 2
    assert not any("hunter2" in t or "ghp_" in t for t in redactor._known_clean)
