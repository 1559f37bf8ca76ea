"""From chat text to an Invocation with typed, validated arguments — or one clear line.

Two steps: ``extract`` decides whether a message is for us at all (plain chat is ignored),
``parse`` turns the command text into an Invocation. The input is untrusted: it is
NFKC-normalised, control and invisible characters are refused, lengths are capped, and
tokens are split shell-like (quotes group words) with no shell anywhere — ``;``, ``|``, ``$(…)``,
backticks and backslashes in a value are just characters, checked against the argument's pattern.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from opsroom.commands.catalog import Catalog
from opsroom.commands.help import usage
from opsroom.commands.validate import MAX_INPUT
from opsroom.commands.values import ArgValueError, closest, convert, parse_bool, show
from opsroom.core import ArgSpec, ArgType, CommandSpec, Invocation, ParseError, Place, Principal

DEFAULT_ENGINE_FLAGS: Mapping[str, type] = {"dry-run": bool}
# Curly double quotes typed by phone keyboards and macOS autocorrect. Single curly quotes
# are left alone: they are far more often apostrophes ("don’t").
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"'})
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_MASK = "•••"
# The ASCII characters of the categories _normalise refuses (Cc; Cf, Cs, Zl and Zp have none).
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _normalise(text: str) -> str:
    """NFKC, one trailing newline stripped, and refusal of anything invisible or controlling
    (a newline in the middle could smuggle a second line into logs and argv)."""
    if len(text) > MAX_INPUT:  # before NFKC, which can make text longer
        raise ParseError(f"message too long ({len(text):,} characters; at most {MAX_INPUT:,})")
    if not text.isascii():  # NFKC leaves ASCII text as it is
        text = unicodedata.normalize("NFKC", text)
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if len(text) > MAX_INPUT:
        raise ParseError(f"message too long ({len(text):,} characters; at most {MAX_INPUT:,})")
    if text.isascii() and _ASCII_CONTROL.search(text) is None:
        return text.strip()  # nothing invisible, nothing to translate (most commands)
    for i, ch in enumerate(text):
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            what = {"\n": "a line break", "\r": "a line break", "\t": "a tab"}.get(
                ch, f"the invisible character U+{ord(ch):04X}"
            )
            raise ParseError(f"{what} at position {i + 1} is not allowed; write the command on one line")
    return text.translate(_SMART_QUOTES).strip()


def extract(text: str, *, addressed: bool, bot_names: Sequence[str] = ("opsroom",)) -> str | None:
    """The command text if the message is for us, else None.

    ``/cmd …`` and ``!cmd …`` are for us; so are ``@opsroom cmd …`` and ``opsroom: cmd …``
    (also ``opsroom, cmd``). ``addressed`` (a DM, a slash command, an app mention the
    platform already stripped) means everything is for us, prefix or not. ``""`` means
    "for us, but empty" (a bare ``@opsroom``): answer with help.
    """
    body = unicodedata.normalize("NFKC", text).strip()
    if body[:1] in ("/", "!") and body[1:2].isalnum() and "/" not in body[1:].split()[0]:
        return body[1:].strip()  # "/usr/bin is full" has a second slash: plain chat
    for bot in bot_names:
        for lead in (f"@{bot}", bot):
            if body[: len(lead)].lower() != lead.lower():
                continue
            rest = body[len(lead) :]
            if rest[:1] in (":", ","):
                return rest[1:].strip()
            if lead.startswith("@") and (not rest or rest[0].isspace()):
                return rest.strip()  # not "@opsroomfan"
    return body if addressed else None


# Quoting, shell-like but without the escape that loses characters: outside quotes a backslash
# is an ordinary character (``a\nb`` stays ``a\nb``, ``C:\temp`` stays ``C:\temp``); inside
# double quotes ``\"`` and ``\\`` escape, any other backslash is kept; inside single quotes
# nothing is special. Words split at spaces, tabs, CR and LF only (docs/commands.md).
_SHLEX_SPACE = re.compile(r"[ \t\r\n]+")
_WORD_PART = re.compile(r"""'([^']*)'|"((?:[^"\\]|\\.)*)"|([^ \t\r\n'"]+)""", re.S)
_DQ_ESCAPE = re.compile(r'\\([\\"])')


def _tokens(text: str) -> list[str]:
    if '"' not in text and "'" not in text:
        # No quotes: the words are what lies between whitespace (the common case, fast).
        if text.isascii() and _ASCII_CONTROL.search(text) is None:
            # Then a space is the only whitespace str.split knows here (its others are
            # ASCII controls): the same words, without a regex split.
            return text.split()
        return [t for t in _SHLEX_SPACE.split(text) if t]
    tokens: list[str] = []
    pos, end = 0, len(text)
    while pos < end:
        space = _SHLEX_SPACE.match(text, pos)
        if space is not None:
            pos = space.end()
            continue
        parts: list[str] = []
        while pos < end and text[pos] not in " \t\r\n":
            found = _WORD_PART.match(text, pos)
            if found is None:
                raise ParseError('unbalanced quotes: close the quote you opened, e.g. `reason="it\'s on fire"`')
            single, double, bare = found.groups()
            parts.append(
                single if single is not None else _DQ_ESCAPE.sub(r"\1", double) if double is not None else bare
            )
            pos = found.end()
        tokens.append("".join(parts))
    return tokens


def _unknown_command(name: str, catalog: Catalog) -> ParseError:
    foreign = next((ch for ch in name if ord(ch) > 127), None)
    note = f" (`{show(foreign)}` U+{ord(foreign):04X} is not a plain letter)" if foreign else ""
    guess = closest(name, catalog.callable_names())
    if guess:
        return ParseError(f"unknown command `{show(name)}`{note} — did you mean `{guess}`?", suggestion=guess)
    return ParseError(f"unknown command `{show(name)}`{note} — try `help`")


# The engine's flags by the name they are looked up under, per flags mapping (the engine's
# is built once per config; keyed by identity and kept with it, as policy/requirements.py does).
_FLAG_NAMES: dict[int, tuple[Mapping[str, type], dict[str, type]]] = {}


def _flag_names(engine_flags: Mapping[str, type]) -> dict[str, type]:
    known = _FLAG_NAMES.get(id(engine_flags))
    if known is not None and known[0] is engine_flags:
        return known[1]
    names = {k.replace("-", "_").lower(): t for k, t in engine_flags.items()}
    if len(_FLAG_NAMES) >= 64:
        _FLAG_NAMES.clear()
    _FLAG_NAMES[id(engine_flags)] = (engine_flags, names)
    return names


class _Collector:
    """Assigns raw values to arguments and engine flags, refusing repeats."""

    def __init__(self, spec: CommandSpec, engine_flags: Mapping[str, type]) -> None:
        self.spec = spec
        self.engine_flags = _flag_names(engine_flags)
        self.raw: dict[str, str] = {}
        self.flags: dict[str, Any] = {}
        self.extra: list[str] = []
        self.greedy_open: str | None = None  # the greedy argument taking the remaining words

    def arg_named(self, key: str, shown: str) -> ArgSpec:
        name = key.replace("-", "_").lower()
        found = self.spec.arg(name)
        if found is None:
            names = [a.name for a in self.spec.args]
            guess = closest(name, names)
            takes = (
                f"`{self.spec.name}` takes {', '.join(names)}" if names else f"`{self.spec.name}` takes no arguments"
            )
            hint = f" — did you mean `{guess}`?" if guess else ""
            raise ParseError(f"unknown argument `{show(shown)}`: {takes}{hint}", suggestion=guess)
        return found

    def put(self, arg: ArgSpec, value: str) -> None:
        if arg.name in self.raw:
            both = "" if arg.secret else f" (`{show(self.raw[arg.name])}` and `{show(value)}`)"
            raise ParseError(f"`{arg.name}` is given twice{both}; give it once")
        self.raw[arg.name] = value

    def put_flag(self, name: str, value: Any) -> None:
        if name in self.flags:
            raise ParseError(f"`--{name.replace('_', '-')}` is given twice; give it once")
        self.flags[name] = value

    def _next_free(self) -> ArgSpec | None:
        raw = self.raw
        for arg in self.spec.free_args:
            if arg.name not in raw:
                return arg
        return None

    def takes_words(self) -> bool:
        """True while free words go to a greedy argument (``audit rollback since monday``)."""
        free = self._next_free()
        return self.greedy_open is not None or (free is not None and free.greedy)

    def positional(self, value: str) -> None:
        if self.greedy_open is not None:
            self.raw[self.greedy_open] += " " + value
            return
        arg = self._next_free()
        if arg is None:
            self.extra.append(value)
            return
        self.raw[arg.name] = value
        if arg.greedy:
            self.greedy_open = arg.name


def _engine_flag(key: str, shown: str, value: str | None, tokens: list[str], col: _Collector) -> None:
    kind = col.engine_flags[key]
    if kind is bool:
        try:
            col.put_flag(key, True if value is None else parse_bool(value))
        except ValueError:
            raise ParseError(f"`{shown}` takes true or false") from None
        return
    if value is None:
        if not tokens:
            raise ParseError(f"`{shown}` needs a value")
        value = tokens.pop(0)
    if kind is int:
        if not re.fullmatch(r"[0-9]{1,18}", value):
            raise ParseError(f"`{shown}` takes a whole number")
        col.put_flag(key, int(value))
    elif not 1 <= len(value) <= 500:
        raise ParseError(f"`{shown}` needs a value of 1 to 500 characters")
    else:
        col.put_flag(key, value)


def _option(token: str, tokens: list[str], col: _Collector) -> None:
    """``--name``, ``--no-name``, ``--name=value`` or ``--name value``; engine flags first."""
    body, has_value, given = token[2:].partition("=")
    if not _KEY.fullmatch(body):
        raise ParseError(f"`{show(token)}` is not an option; put `--` before values that start with --")
    value = given if has_value else None
    key = body.replace("-", "_").lower()
    shown = f"--{body}"
    if key in col.engine_flags:
        _engine_flag(key, shown, value, tokens, col)
        return
    negated = key[3:] if key.startswith("no_") and value is None else ""
    if negated and col.engine_flags.get(negated) is bool:
        col.put_flag(negated, False)
        return
    if negated and (neg := col.spec.arg(negated)) is not None and neg.type is ArgType.BOOL:
        col.put(neg, "false")
        return
    arg = col.arg_named(key, shown)
    if arg.type is ArgType.BOOL:
        col.put(arg, "true" if value is None else value)
    elif value is not None:
        col.put(arg, value)
    elif tokens:
        col.put(arg, tokens.pop(0))
    else:
        raise ParseError(f"`{shown}` needs a value — usage: {usage(col.spec)}")


def _mask_secrets(spec: CommandSpec, command: str, tokens: Sequence[str], raw: Mapping[str, str], text: str) -> str:
    """The raw text with secret argument values replaced, so it can be stored and shown."""
    if not spec.secret_args:
        return text  # most commands have no secret argument (worked out once per spec)
    secrets = {raw[a.name] for a in spec.args if a.secret and a.name in raw}
    if not secrets:
        return text
    masked = []
    for token in tokens:
        key, sep, value = token.partition("=")
        if token in secrets:
            masked.append(_MASK)
        elif sep and value in secrets:
            masked.append(f"{key}={_MASK}")
        else:
            masked.append(token)
    return " ".join(t if t.endswith(_MASK) else shlex.quote(t) for t in [command, *masked])


def parse(
    text: str,
    catalog: Catalog,
    principal: Principal,
    place: Place,
    *,
    engine_flags: Mapping[str, type] = DEFAULT_ENGINE_FLAGS,
) -> Invocation:
    """The Invocation for ``text`` (as returned by ``extract``); ParseError otherwise.

    ``Invocation.flags`` holds engine flags by name with ``_`` for ``-`` (``dry_run``);
    only flags that were given appear. ``Invocation.args`` holds every given argument and
    every default; an optional argument without a default is absent when not given.
    """
    text = _normalise(text)
    tokens = _tokens(text)
    if not tokens:
        raise ParseError("empty command — try `help`")
    word = tokens.pop(0)
    spec = catalog.get(word) if word.isascii() else None
    if spec is None:
        raise _unknown_command(word, catalog)
    rest = list(tokens)
    col = _Collector(spec, engine_flags)
    only_values = False
    while tokens:
        item = tokens.pop(0)
        if only_values:
            col.positional(item)
        elif item == "--":
            only_values = True
        elif item in ("--help", "-h"):
            raise ParseError(f"usage: {usage(spec)} — `help {spec.name}` for details")
        elif item.startswith("--"):
            _option(item, tokens, col)
        elif (
            "=" in item
            and _KEY.fullmatch(item.split("=", 1)[0])
            and (spec.arg(item.split("=", 1)[0].replace("-", "_").lower()) is not None or not col.takes_words())
        ):
            key, _, value = item.partition("=")
            col.put(col.arg_named(key, key), value)
        else:
            col.positional(item)
    if col.extra:
        count = len(spec.free_args)
        raise ParseError(
            f"too many values: `{spec.name}` takes {count} without names; "
            f"`{show(col.extra[0])}` is extra — usage: {usage(spec)}"
        )
    missing = [name for name in spec.required_args if name not in col.raw] if spec.required_args else None
    if missing:
        names = ", ".join(f"`{m}`" for m in missing)
        raise ParseError(f"missing {names} — usage: {usage(spec)}")
    args: dict[str, Any] = {}
    for arg in spec.args:
        if arg.name in col.raw:
            try:
                args[arg.name] = convert(arg, col.raw[arg.name], catalog.lists)
            except ArgValueError as err:
                raise ParseError(str(err), suggestion=err.suggestion) from None
        elif arg.default is not None:
            args[arg.name] = arg.default
    raw_text = _mask_secrets(spec, word, rest, col.raw, text)
    return Invocation(command=spec, args=args, raw_text=raw_text, principal=principal, place=place, flags=col.flags)
