"""The parser's per-command shortcuts (no error text built for a value that passes, no secret
masking for a command without secrets, no missing-argument scan for a command without
required arguments) against the code they replaced, kept here verbatim, over thousands of
generated command lines: quotes, unicode, ``--flags``, unknown arguments, injection strings.
Same Invocation (arguments, flags, kept text) or the same refusal (text and suggestion)."""

from __future__ import annotations

import random
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.commands.test_cmd_parser import ALICE, CONFIG, OPS

from opsroom.commands import Catalog, ChoiceLists, parse
from opsroom.commands import parser as parser_module
from opsroom.commands.durations import format_duration, parse_duration
from opsroom.commands.values import ArgValueError, _check_range, _choices, _pick, one_of, parse_bool, show
from opsroom.core import ArgSpec, ArgType, CommandSpec, ParseError

EXTRA = r"""
  note:
    summary: A free-text note (greedy)
    args:
      - {name: ticket, pattern: '^[A-Z]+-[0-9]+$'}
      - {name: text, greedy: true, max_length: 80}
    runner: {type: exec, argv: [note]}
  ping:
    summary: answers pong
    read_only: true
    args:
      - {name: text, required: false, default: pong}
    runner: {type: exec, argv: [ping]}
  vault:
    summary: A secret without a pattern, and one that is not required
    args:
      - {name: name}
      - {name: password, secret: true}
      - {name: otp, secret: true, required: false, positional: false}
    runner: {type: exec, argv: [vault]}
  wait:
    summary: Only optional arguments
    args:
      - {name: for, type: duration, required: false, default: 1m, min: 10, max: 2h}
      - {name: times, type: int, required: false, min: 1}
      - {name: quiet, type: bool, required: false}
    runner: {type: exec, argv: [wait]}
"""


def _old_convert(arg: ArgSpec, raw: str, lists: Any) -> Any:
    """``values.convert`` before the change: messages built before any check."""
    name = f"`{arg.name}`"
    shown = "value" if arg.secret else f"`{show(raw)}`"
    if raw == "":
        raise ArgValueError(f"{name} is empty")
    if len(raw) > arg.max_length:
        raise ArgValueError(f"{name} is too long ({len(raw):,} characters; at most {arg.max_length:,})")
    if arg.type is ArgType.STRING:
        if arg.pattern and not re.fullmatch(arg.pattern, raw):
            hint = f" ({arg.help})" if arg.help else ""
            raise ArgValueError(f"{name} {shown} does not match the allowed format `{arg.pattern}`{hint}")
        return raw
    if arg.type is ArgType.INT:
        if not re.fullmatch(r"[+-]?[0-9]+", raw):
            raise ArgValueError(f"{name} must be a whole number, not {shown}")
        number = int(raw)
        _check_range(arg, number, str)
        return number
    if arg.type is ArgType.BOOL:
        try:
            return parse_bool(raw)
        except ValueError:
            raise ArgValueError(f"{name} must be true or false, not {shown}") from None
    if arg.type is ArgType.DURATION:
        try:
            seconds = parse_duration(raw)
        except ValueError as err:
            raise ArgValueError(f"{name} {err}, not {shown}") from None
        _check_range(arg, seconds, format_duration)
        return seconds
    if arg.type is ArgType.ENUM:
        return _pick(arg, raw, arg.values, f"{name} must be one of {one_of(arg.values)}")
    if arg.type is ArgType.CHOICE:
        options = _choices(arg, lists)
        return _pick(arg, raw, options, f"{name} {shown} is not in the `{arg.choices_from}` list ({one_of(options)})")
    raise ArgValueError(f"{name} has an unsupported type {arg.type!r}")  # pragma: no cover


def _old_mask_secrets(spec: CommandSpec, command: str, tokens: Sequence[str], raw: Mapping[str, str], text: str) -> str:
    """``parser._mask_secrets`` before the change (no early return on the spec)."""
    secrets = {raw[a.name] for a in spec.args if a.secret and a.name in raw}
    if not secrets:
        return text
    masked = []
    for token in tokens:
        key, sep, value = token.partition("=")
        if token in secrets:
            masked.append("•••")
        elif sep and value in secrets:
            masked.append(f"{key}=•••")
        else:
            masked.append(token)
    return " ".join(t if t.endswith("•••") else shlex.quote(t) for t in [command, *masked])


WORDS = ["deploy", "ship", "say", "scale", "login", "note", "ping", "vault", "wait", "PING", "pïng", "ｐｉｎｇ", "nope"]
TOKENS = [
    "api-gateway", "payments", "Search", "serch", "staging", "prod", "production", "dev",
    "v1.2.3", "latest", "x" * 201, "", "3", "0", "21", "-4", "+7", "٣", "5m", "2h", "90s", "3d", "1h30m",
    "true", "no", "maybe", "abcdefgh", "ABCDEFGH", "hunter22", "s3cr3t!!", "OPS-12", "ops-12",
    "--force", "--no-force", "--dry-run", "--dry-run=false", "--dry-run=maybe", "--DRY-RUN", "--no-dry-run",
    "--version", "--version=v2", "--drain", "--drain=10m", "--otp=123456", "--otp", "--help", "-h", "--",
    "--=x", "---x", "--9", "--unknown", "--quiet", "--no-quiet", "--times=3", "--for", "--change",
    "service=payments", "env=dev", "version=v9", "replicas=5", "token=abcdefgh", "password=pa55word",
    "otp=999999", "text=hi", "unknown=1", "Service=api-gateway", "ticket=OPS-1", "for=30s", "times=x",
    "'quoted words'", '"double \\" quote"', '"unbalanced', "'", "a\\nb", "C:\\temp", "“curly”",
    "; rm -rf /", "$(reboot)", "`id`", "| cat /etc/passwd", "&&", "${IFS}", "../../etc", "%s%n", "' OR 1=1 --",
    "日本語", "emoji🔥", "e\u0301", "ﬁle", "\u200bzero", "tab\there", "bell\x07", "a=b=c", "=", "==x",
]  # fmt: skip


def _lines(count: int) -> list[str]:
    rng = random.Random(20261205)
    lines = ["", " ", "ping", "ping hello1", "ping --dry-run", "ping hello --", "say -- --force"]
    for _ in range(count):
        words = [rng.choice(WORDS)] + [rng.choice(TOKENS) for _ in range(rng.randint(0, 5))]
        line = " ".join(words)
        if rng.random() < 0.05:
            line += "\n"
        lines.append(line)
    return lines


def _outcome(text: str, catalog: Catalog) -> tuple[Any, ...]:
    try:
        inv = parse(text, catalog, ALICE, OPS, engine_flags={"dry-run": bool, "change": str})
    except ParseError as err:
        return ("error", str(err), err.suggestion)
    return ("ok", inv.command.name, dict(inv.args), inv.raw_text, dict(inv.flags), inv.shown_text(), inv.canonical())


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    cfg = yaml.safe_load(CONFIG + EXTRA)
    return Catalog.from_config(cfg["commands"], [], Path("."), ChoiceLists(cfg["lists"]), plugins=False)


def test_parse_agrees_with_the_code_it_replaced(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _lines(4000)
    new = [_outcome(line, catalog) for line in lines]
    with monkeypatch.context() as patch:
        patch.setattr(parser_module, "convert", _old_convert)
        patch.setattr(parser_module, "_mask_secrets", _old_mask_secrets)
        old = [_outcome(line, catalog) for line in lines]
    for line, before, after in zip(lines, old, new, strict=True):
        assert after == before, line
    kinds = {o[0] for o in new}
    assert kinds == {"ok", "error"}  # the generated lines reach both
    assert sum(o[0] == "ok" for o in new) > 200


def test_stored_args_agree_with_the_code_they_replaced(catalog: Catalog) -> None:
    """``Engine.stored_args`` in one pass against ``shown_args("[REDACTED]")`` then each string
    cleaned — with secrets the redactor knows, one of them inside the mask itself."""
    from types import SimpleNamespace

    from opsroom.engine.core import Engine
    from opsroom.policy.redaction import Redactor

    redactor = Redactor(secret_values=["hunter22", "DACT", "payments"])
    host = SimpleNamespace(_clean=lambda text: redactor.redact(text)[0])
    seen = 0
    for line in _lines(1500):
        try:
            inv = parse(line, catalog, ALICE, OPS)
        except ParseError:
            continue
        seen += 1
        old = {k: host._clean(v) if isinstance(v, str) else v for k, v in inv.shown_args("[REDACTED]").items()}
        assert Engine.stored_args(host, inv) == old, line  # type: ignore[arg-type]
    assert seen > 100


def _old_tokens(text: str) -> list[str]:
    """``parser._tokens``'s quote-free path before the change (a regex split)."""
    return [t for t in re.split(r"[ \t\r\n]+", text) if t]


def test_tokens_without_quotes_agree_with_the_regex_split() -> None:
    """``str.split`` is taken only for ASCII text without controls, where a space is the only
    whitespace it knows; any other text keeps the regex split (``\\x0b``, NBSP, U+1680…)."""
    alphabet = ["a", "b", "-", "=", " ", "  ", "\t", "\r", "\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x00", "\x7f"]
    alphabet += ["\u00a0", "\u1680", "\u2003", "\u3000", "\u2028", "\u0085", "é", "日", "\\", ";", "$(x)"]
    rng = random.Random(5)
    texts = ["", " ", "ping", " ping  hello1 ", "a\tb", "a\x0bb", "a\u00a0b", "a\u1680b"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(5000)]
    for text in texts:
        assert parser_module._tokens(text) == _old_tokens(text), repr(text)
