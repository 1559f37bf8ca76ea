"""Secrets never reach chat, the audit, the database or the log: the one redactor.

Every sink passes what it writes through a ``Redactor``: chat messages (``ChatHub``), audit
rows (``AuditLog``, summary and detail), run output (``StreamRedactor``, so a private key
printed over many chunks is masked whole), the web chat's stored messages, tickets and
opsroom's own log lines (``opsroom.logs``, tracebacks included). It removes the values of
configured secrets (and of the environment variables they come from) and the shapes of
well-known credentials listed in ``TOKEN_KINDS`` (docs/security.md lists them).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opsroom.policy.prefilter import ShapeFilter, required_pieces
from opsroom.policy.secret_shapes import BLOCK_BEGIN, BLOCK_END, KEYED_SECRETS, TOKEN_KINDS, TOKEN_PATTERNS

MASK = "[REDACTED]"
__all__ = ["MASK", "TOKEN_KINDS", "Redactor", "StreamRedactor", "build_redactor", "current", "install"]
_KNOWN_CLEAN_MAX = 4096  # texts remembered as clean (see Redactor._known_clean)
_CLEAN_TEXT_MAX = 2048  # longer texts are not remembered
_PLAIN = (int, bool, float)  # values clean() gives back as they are (exact classes)


def _keep_key(match: re.Match[str]) -> str:
    return match.group(1) + MASK


class Redactor:
    """Replaces secret values and credential shapes with ``[REDACTED]``; counts what it did so
    the audit can record that a redaction happened."""

    def __init__(
        self, secret_values: Iterable[str] = (), secret_env: Iterable[str] = (), patterns: Iterable[str] = ()
    ) -> None:
        values = {v for v in secret_values if v and len(v) >= 4}
        values |= {os.environ[name] for name in secret_env if len(os.environ.get(name, "")) >= 4}
        self.extra_patterns = tuple(re.compile(p) for p in patterns)
        # Longest first so a secret containing another is masked whole.
        self._values = sorted(values, key=len, reverse=True)
        self._value_re = re.compile("|".join(re.escape(v) for v in self._values)) if self._values else None
        # Whether any credential shape can be in the text at all: most text (every audit row,
        # every chat message) has none; each shape's fixed piece (``ghp_``, ``-----BEGIN``…) is
        # looked for first, and only a text that has one is searched (policy/prefilter.py).
        self._shapes = ShapeFilter(
            (*TOKEN_PATTERNS, *self.extra_patterns, *KEYED_SECRETS), joinable=(*TOKEN_PATTERNS, *KEYED_SECRETS)
        )
        # Texts recently found to hold nothing to mask. One command's texts reach several
        # sinks (its audit rows, chat messages, the run row), and names, rule ids and
        # button labels recur: each is scanned once. Only clean texts are kept, so no secret
        # lingers here. An answer holds only for the values and patterns that gave it: they
        # are set here and nowhere else (a new config builds a new Redactor, with a memo of
        # its own), and setting any of them again empties the memo (``__setattr__``).
        self._known_clean: dict[str, None] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        # Any change to what is masked (a secret value learnt, a pattern added) after a text
        # was found clean must not leave that text's "clean" standing: forget them all.
        object.__setattr__(self, name, value)
        if name != "_known_clean" and "_known_clean" in self.__dict__:
            self._known_clean.clear()

    def redact(self, text: str) -> tuple[str, int]:
        """Returns the cleaned text and how many redactions were made."""
        if not text or text in self._known_clean:
            return text, 0
        count = 0
        if self._value_re is not None:
            text, n = self._value_re.subn(MASK, text)
            count += n
        if not self._shapes.might_match(text):
            if not count and len(text) <= _CLEAN_TEXT_MAX:
                known = self._known_clean
                if len(known) >= _KNOWN_CLEAN_MAX:
                    known.clear()  # cheap to refill; bounded memory
                known[text] = None
            return text, count
        for pattern in TOKEN_PATTERNS + self.extra_patterns:
            text, n = pattern.subn(MASK, text)
            count += n
        for pattern in KEYED_SECRETS:  # the key stays, the value goes
            text, n = pattern.subn(_keep_key, text)
            count += n
        return text, count

    def all_clean(self, texts: Iterable[str]) -> bool:
        """True only when no text of ``texts`` has anything to mask, asked once of them all
        joined (a chat message's five or so texts cost one look instead of five). False says
        nothing: redact each. Sound because a secret value found in one text is found in
        the joined text too, and so is a match of one of opsroom's shapes; a configured
        pattern (maybe anchored: ``^key-\\w+`` matches a text alone, not after another) is
        taken to match when its fixed piece is there (``ShapeFilter.might_match(joined=)``).
        Patterns with no fixed piece make it always answer False."""
        shapes = self._shapes
        if not shapes.pieces_only:
            return False
        known = self._known_clean
        unknown = [t for t in texts if t and t not in known]  # labels, names: seen before
        if not unknown:
            return True
        joined = "\n".join(unknown) if len(unknown) > 1 else unknown[0]
        if self._value_re is not None and self._value_re.search(joined) is not None:
            return False
        if shapes.might_match(joined, joined=True):
            return False
        # Nothing in the whole, so nothing in any part: each text is clean.
        self._remember_clean(unknown)
        return True

    def _remember_clean(self, texts: list[str]) -> None:
        """Remember ``texts`` (each found clean) as clean; long ones are not kept, and the
        memo is emptied when full (cheap to refill; bounded memory)."""
        known = self._known_clean
        if len(known) + len(texts) > _KNOWN_CLEAN_MAX:
            known.clear()
            if len(texts) > _KNOWN_CLEAN_MAX:
                return  # more at once than the memo holds: not worth keeping
        for text in texts:
            if len(text) <= _CLEAN_TEXT_MAX:
                known[text] = None

    def all_clean_values(self, values: Iterable[Any]) -> bool:
        """``all_clean`` over every string ``clean`` would redact in ``values`` (dict values,
        list and tuple items, at any depth; keys are kept by ``clean`` and not looked at):
        True means ``clean`` would give each value back unchanged."""
        texts: list[str] = []
        append = texts.append
        for value in values:  # mostly summaries (strings) and flat dicts (audit details)
            cls = value.__class__
            if cls is str:
                append(value)
            elif cls is dict:  # _strings' first level, without a call for it
                for item in value.values():
                    if item.__class__ is str:
                        append(item)
                    elif item is not None and item.__class__ not in _PLAIN:
                        _strings(item, texts)
            elif value is not None and cls not in _PLAIN:
                _strings(value, texts)
        return self.all_clean(texts)

    def clean(self, value: Any) -> Any:
        """``value`` with every string in it redacted (dicts, lists and tuples walked; keys kept):
        for audit details, run arguments and API bodies."""
        if value.__class__ is str:
            return self.redact(value)[0]
        if value is None or value.__class__ in _PLAIN:  # before isinstance: cheaper
            return value
        if isinstance(value, str):
            return self.redact(value)[0]
        # Strings (and numbers) inside are handled in place rather than through a call of
        # clean() each (audit details are mostly flat mappings): the same result, fewer calls.
        redact, clean = self.redact, self.clean
        if isinstance(value, Mapping):
            return {
                k: redact(v)[0] if v.__class__ is str else v if v is None or v.__class__ in _PLAIN else clean(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [
                redact(v)[0] if v.__class__ is str else v if v is None or v.__class__ in _PLAIN else clean(v)
                for v in value
            ]
        if isinstance(value, tuple):
            return tuple(self.clean(v) for v in value)
        return value

    def stream(self) -> StreamRedactor:
        return StreamRedactor(self.redact)

    @property
    def secret_count(self) -> int:
        """How many secret values are known (for `opsroom check`; never the values)."""
        return len(self._values)

    def __call__(self, text: str) -> str:
        return self.redact(text)[0]


def _strings(value: Any, out: list[str]) -> None:
    """The strings ``Redactor.clean`` redacts in ``value``, appended to ``out``. Exact classes
    are tried before ``isinstance`` (an ABC's check, ``Mapping``, is slow), in ``clean``'s order:
    audit details are small dicts of strings, numbers and lists, walked for every row."""
    cls = value.__class__
    if cls is str:
        out.append(value)
        return
    if value is None or cls in _PLAIN:
        return
    if cls is dict:
        items: Iterable[Any] = value.values()
    elif cls is list or cls is tuple:
        items = value
    elif isinstance(value, str):
        out.append(value)
        return
    elif isinstance(value, Mapping):
        items = value.values()
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return
    for item in items:
        if item.__class__ is str:
            out.append(item)
        elif item is not None and item.__class__ not in _PLAIN:
            _strings(item, out)


# Every match of BLOCK_BEGIN contains one of these (``-----BEGIN ``), read from the pattern
# itself (policy/prefilter.py); None would mean "always search".
_BEGIN_FOUND = required_pieces(BLOCK_BEGIN)
_BEGIN_PIECES = None if _BEGIN_FOUND is None or _BEGIN_FOUND[1] else _BEGIN_FOUND[0]


class StreamRedactor:
    """Redacts output that arrives in pieces (a runner's chunks). A piece is redacted whole,
    except that from a line opening a private key block until the line closing it, pieces are
    held back and the block is masked as one: a key printed line by line never shows.
    ``finish()`` masks a block left open when the stream ends."""

    MAX_HELD = 256 * 1024  # a block this long is masked and the rest of it skipped

    def __init__(self, redact: Callable[[str], tuple[str, int]]) -> None:
        self._redact = redact
        self._held: list[str] = []
        self._held_chars = 0

    def feed(self, text: str) -> tuple[str, int]:
        """What may be shown now of ``text`` (possibly empty while a block is open)."""
        if self._held:
            self._held.append(text)
            self._held_chars += len(text)
            joined = "".join(self._held)
            if BLOCK_END.search(joined) is None:
                if self._held_chars > self.MAX_HELD:  # keep memory bounded; still never shown
                    self._held = [MASK]
                    self._held_chars = len(MASK)
                return "", 0
            self._held, self._held_chars = [], 0
            return self._redact_open(joined)
        return self._redact_open(text)

    def _redact_open(self, text: str) -> tuple[str, int]:
        """Redact ``text``; if it ends inside an opened block, hold that block back."""
        if _BEGIN_PIECES is not None and not any(piece in text for piece in _BEGIN_PIECES):
            return self._redact(text)  # no block can begin here (most output): no regex scan
        begins = list(BLOCK_BEGIN.finditer(text))
        last_begin = begins[-1] if begins else None
        if last_begin is not None and BLOCK_END.search(text, last_begin.end()) is None:
            head, tail = text[: last_begin.start()], text[last_begin.start() :]
            self._held, self._held_chars = [tail], len(tail)
            return self._redact(head) if head else ("", 0)
        return self._redact(text)

    def finish(self) -> tuple[str, int]:
        """The stream ended: an unterminated block is masked, never shown."""
        if not self._held:
            return "", 0
        self._held, self._held_chars = [], 0
        return MASK, 1


# The redactor opsroom's own log lines go through (opsroom.logs): built-in shapes until the
# running system installs the one built from its config.
_current: Redactor = Redactor()


def current() -> Redactor:
    return _current


def install(redactor: Redactor) -> None:
    """Make ``redactor`` the one the log uses (done by ``build_system``)."""
    global _current
    _current = redactor


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
