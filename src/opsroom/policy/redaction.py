"""Secrets never reach chat or the audit log.

Every piece of run output, error text and HTTP excerpt passes through ``Redactor.redact``
before it is posted or stored. It removes the values of configured secrets (and of the
environment variables they come from) and well-known token shapes.
"""

from __future__ import annotations

import fnmatch
import os
import re
from typing import Any, Iterable, Mapping

MASK = "[REDACTED]"

# Well-known token shapes. Order matters little: each replaces the whole match.
TOKEN_PATTERNS: tuple[re.Pattern[str], ...] = tuple(re.compile(p) for p in (
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",  # Slack tokens
    r"\bxapp-[0-9]-[A-Za-z0-9-]{10,}",  # Slack app-level tokens
    r"\bgh[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
    r"\bgithub_pat_[A-Za-z0-9_]{40,}",
    r"\bglpat-[A-Za-z0-9_-]{20,}",  # GitLab
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
    r"(?i)aws_secret_access_key\s*[=:]\s*\S+",
    r"\bAIza[0-9A-Za-z_-]{35}\b",  # Google API keys
    r"\bsk-[A-Za-z0-9_-]{20,}",  # OpenAI-style secret keys
    r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{12,}=*",
    r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWTs
    r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)",  # user:password@ in URLs
    r"(?i)(?<=password=)[^\s&]+",
    r"\bxox[a-z]-[A-Za-z0-9-]{10,}",  # Slack tokens with newer prefixes (xoxe-, xoxc-)
    r"\bgh[pousr]_[A-Za-z0-9]{30,}",
    r"\bglptt-[A-Za-z0-9_-]{20,}",  # GitLab pipeline trigger tokens
    r"\bsk_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
    r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",  # SendGrid
    r"\bnpm_[A-Za-z0-9]{36}\b",
    r"\bhvs\.[A-Za-z0-9_-]{20,}",  # HashiCorp Vault service tokens
    r"(?i)\b(?:basic)\s+[A-Za-z0-9+/]{12,}={0,2}",  # HTTP basic credentials
))

# key=value / "key": "value" with a secret-sounding key: the key stays, the value goes.
KEYED_SECRET = re.compile(
    r"(?i)(\b(?:password|passwd|secret|client_secret|api_key|apikey|access_token|auth_token|token)"
    r"[\"']?\s*[:=]\s*[\"']?)(?!\[REDACTED\])[^\s\"',;&]{4,}")


class Redactor:
    """Replaces secret values and token shapes with ``[REDACTED]``; counts what it did so the
    audit can record that a redaction happened."""

    def __init__(self, secret_values: Iterable[str] = (), secret_env: Iterable[str] = (),
                 patterns: Iterable[str] = ()) -> None:
        values = {v for v in secret_values if v and len(v) >= 4}
        values |= {os.environ[name] for name in secret_env if len(os.environ.get(name, "")) >= 4}
        self.extra_patterns = tuple(re.compile(p) for p in patterns)
        # Longest first so a secret containing another is masked whole.
        self._values = sorted(values, key=len, reverse=True)
        self._value_re = (re.compile("|".join(re.escape(v) for v in self._values))
                          if self._values else None)

    def redact(self, text: str) -> tuple[str, int]:
        """Returns the cleaned text and how many redactions were made."""
        if not text:
            return text, 0
        count = 0
        if self._value_re is not None:
            text, n = self._value_re.subn(MASK, text)
            count += n
        for pattern in TOKEN_PATTERNS + self.extra_patterns:
            text, n = pattern.subn(MASK, text)
            count += n
        text, n = KEYED_SECRET.subn(lambda m: m.group(1) + MASK, text)
        return text, count + n

    @property
    def secret_count(self) -> int:
        """How many secret values are known (for `opsroom check`; never the values)."""
        return len(self._values)

    def __call__(self, text: str) -> str:
        return self.redact(text)[0]


# Config keys whose string values are secrets wherever they appear (a token pasted into the
# config through ${ENV} interpolation), and keys that *name* an environment variable holding one.
_SECRET_KEY = re.compile(r"(?i)(token|secret|password|passphrase|api_key|apikey|private_key)$")
_ENV_KEY = re.compile(r"(?i)_env$")


def config_secrets(data: Any, *, env: Mapping[str, str] | None = None) -> tuple[set[str], set[str]]:
    """(secret values, env var names) found by walking a config (a model dump or plain data):
    values of keys like ``bot_token``/``signing_secret``, and env vars named by keys like
    ``token_env``/``hmac_secret_env``."""
    env = os.environ if env is None else env
    values: set[str] = set()
    names: set[str] = set()

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item, key)
        elif isinstance(node, str) and node:
            if _ENV_KEY.search(key) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", node):
                names.add(node)
            elif _SECRET_KEY.search(key) and not node.startswith("${"):
                values.add(node)

    walk(data)
    return values, names


def build_redactor(config: Any, *, env: Mapping[str, str] | None = None) -> Redactor:
    """The Redactor for a whole opsroom config: root ``secrets:`` (env var names),
    ``guardrails.redaction`` (more names, name globs like ``*_TOKEN``, extra patterns),
    secret-looking config values and the env vars config keys name."""
    env = os.environ if env is None else env
    redaction = config.guardrails.redaction
    names = set(config.secrets) | set(redaction.env)
    names |= {n for n in env for glob in redaction.env_name_patterns if fnmatch.fnmatchcase(n, glob)}
    dump = config.model_dump(mode="json", by_alias=True, exclude={"users", "commands", "policy"})
    values, named = config_secrets(dump, env=env)
    names |= named
    values |= {env[n] for n in names if len(env.get(n, "")) >= 4}
    return Redactor(secret_values=values, patterns=redaction.patterns)
