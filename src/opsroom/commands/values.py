"""Turning one typed argument value into its Python value, with a one-line error.

Shared by the parser (what people type) and the loader (defaults written in YAML), so a
default can never be something a user could not have typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opsroom.commands.durations import format_duration, parse_duration
from opsroom.core import ArgSpec, ArgType
from opsroom.errors import Refusal

if TYPE_CHECKING:
    from opsroom.commands.lists import ChoiceLists

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})
_INT = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: int() would accept "٣" too
SHOWN_CHOICES = 10  # list at most this many allowed values in an error message


class ArgValueError(Refusal, ValueError):
    """A value is not acceptable for its argument; ``str()`` is the chat message."""

    def __init__(self, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.suggestion = suggestion


def show(value: str, limit: int = 40) -> str:
    """A user-typed value made safe to echo inside backticks: short, no backticks."""
    value = value.replace("`", "'")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def closest(value: str, options: Sequence[str], cutoff: float = 60.0) -> str | None:
    """The most similar option, for "did you mean …?"; None if nothing is close."""
    if not options:
        return None
    from rapidfuzz import fuzz, process  # only when a suggestion is needed: keeps start-up light

    found = process.extractOne(
        value.casefold(), {o: o.casefold() for o in options}, scorer=fuzz.ratio, score_cutoff=cutoff
    )
    return None if found is None else str(found[2])


def one_of(options: Sequence[str]) -> str:
    if len(options) <= SHOWN_CHOICES:
        return ", ".join(options)
    return ", ".join(options[:SHOWN_CHOICES]) + f", … ({len(options)} in all)"


def parse_bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("must be true or false")


def convert(arg: ArgSpec, raw: str, lists: ChoiceLists | None) -> Any:
    """The typed value of ``raw`` for ``arg``; raises ArgValueError naming the argument.

    Secret arguments never have their value repeated in an error.
    """
    if raw == "":
        raise ArgValueError(f"`{arg.name}` is empty")
    if len(raw) > arg.max_length:
        raise ArgValueError(f"`{arg.name}` is too long ({len(raw):,} characters; at most {arg.max_length:,})")
    if arg.type is ArgType.STRING and not arg.pattern:
        return raw  # the common case: nothing to check, so no message text is built
    name = f"`{arg.name}`"
    shown = "value" if arg.secret else f"`{show(raw)}`"
    if arg.type is ArgType.STRING:
        if not re.fullmatch(arg.pattern, raw):
            hint = f" ({arg.help})" if arg.help else ""
            raise ArgValueError(f"{name} {shown} does not match the allowed format `{arg.pattern}`{hint}")
        return raw
    if arg.type is ArgType.INT:
        if not _INT.fullmatch(raw):
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


def _choices(arg: ArgSpec, lists: ChoiceLists | None) -> Sequence[str]:
    from opsroom.commands.lists import ListUnavailable

    if lists is None or arg.choices_from not in lists:
        raise ArgValueError(f"`{arg.name}` cannot be checked: no list `{arg.choices_from}`")
    try:
        return lists.get(arg.choices_from)
    except ListUnavailable:
        raise ArgValueError(
            f"`{arg.name}` cannot be checked right now: the `{arg.choices_from}` "
            "list is unavailable; try again or tell an admin"
        ) from None


def _pick(arg: ArgSpec, raw: str, options: Sequence[str], message: str) -> str:
    """Case-insensitive match returning the canonical spelling, else a suggestion."""
    wanted = raw.casefold()
    for option in options:
        if option.casefold() == wanted:
            return option
    prefixed = [o for o in options if o.casefold().startswith(wanted)]
    guess = None if arg.secret else (prefixed[0] if len(prefixed) == 1 else closest(raw, options))
    if guess is not None:
        message += f" — did you mean `{guess}`?"
    raise ArgValueError(message, suggestion=guess)


def _check_range(arg: ArgSpec, number: int, fmt: Any) -> None:
    low, high = arg.min, arg.max
    if (low is not None and number < low) or (high is not None and number > high):
        if low is not None and high is not None:
            allowed = f"between {fmt(low)} and {fmt(high)}"
        elif low is not None:
            allowed = f"at least {fmt(low)}"
        else:
            allowed = f"at most {fmt(high)}"
        raise ArgValueError(f"`{arg.name}` must be {allowed}")
