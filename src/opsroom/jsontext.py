"""``json.JSONEncoder(...).encode`` for the per-command hot path, without its per-call set-up.

Every ``JSONEncoder.encode`` call builds a new C encoder object (and a dict for its circular
check) before encoding anything; a command encodes about twenty small values (audit rows'
details and hash heads, the Cancel button's signed id). ``encoder`` builds the C encoder
once, with the very arguments ``encode`` would pass it, so the text is the same byte for
byte (tests/unit/test_jsontext.py). The one thing left out is the circular-reference check:
a value that contains itself ends in RecursionError instead of ValueError — where opsroom
encodes, both were an error (the audit's plain-JSON fallback recursed without end too).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _encoder
from typing import Any


def encoder(
    *,
    sort_keys: bool = False,
    separators: tuple[str, str] = (", ", ": "),
    ensure_ascii: bool = True,
    allow_nan: bool = True,
    default: Callable[[Any], Any] | None = None,
) -> Callable[[Any], str]:
    """What ``json.JSONEncoder(...).encode`` with these arguments returns, as a function."""
    plain = json.JSONEncoder(
        sort_keys=sort_keys, separators=separators, ensure_ascii=ensure_ascii, allow_nan=allow_nan, default=default
    )
    make: Any = getattr(_encoder, "c_make_encoder", None)  # CPython's _json (not in typeshed)
    if make is None:  # an interpreter without the C accelerator
        return plain.encode
    item_separator, key_separator = separators
    encode_one = make(
        None,  # no circular check (see the module docstring)
        plain.default,
        _encoder.encode_basestring_ascii if ensure_ascii else _encoder.encode_basestring,
        None,
        key_separator,
        item_separator,
        sort_keys,
        False,  # skipkeys
        allow_nan,
    )
    join = "".join

    def encode(value: Any) -> str:
        return join(encode_one(value, 0))

    return encode
