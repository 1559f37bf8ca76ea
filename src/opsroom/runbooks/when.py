"""The ``when=`` condition of a runbook step: a deliberately tiny language, never ``eval``.

    env == 'production'
    steps.diagnose.failed and not (service == 'payments' or env != 'staging')

Names are the runbook's inputs, and ``steps.<id>.ok | failed | skipped | done`` for steps
above this one. Literals are quoted strings, integers, ``true`` and ``false``. Operators:
``==``, ``!=``, ``and``, ``or``, ``not``, parentheses. Anything else is a parse error with the
column, so ``opsroom check`` can point at it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from opsroom.errors import ConfigError

STEP_FACTS = ("ok", "failed", "skipped", "done")
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>'[^']*'|"[^"]*")|(?P<int>-?\d+)|(?P<op>==|!=|\(|\))"""
    r"""|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*))"""
)
MAX_LENGTH = 500


class WhenError(ConfigError, ValueError):
    """A ``when`` condition that cannot be read or evaluated."""


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Name:
    path: str  # "env" or "steps.diagnose.failed"


@dataclass(frozen=True)
class Compare:
    left: Expr
    op: str
    right: Expr


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    left: Expr
    right: Expr


Expr = Union[Literal, Name, Compare, Not, BoolOp]  # noqa: UP007  (a runtime alias)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    if len(text) > MAX_LENGTH:
        raise WhenError(f"condition too long ({len(text)} characters; at most {MAX_LENGTH})")
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise WhenError(f"unexpected {text[pos:].strip()[:10]!r} at column {pos + 1}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind) + 1))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise WhenError("the condition ends too early")
        self.i += 1
        return token

    def word(self, value: str) -> bool:
        token = self.peek()
        if token and token[0] == "name" and token[1] == value:
            self.i += 1
            return True
        return False

    def expr(self) -> Expr:
        left = self.conj()
        while self.word("or"):
            left = BoolOp("or", left, self.conj())
        return left

    def conj(self) -> Expr:
        left = self.neg()
        while self.word("and"):
            left = BoolOp("and", left, self.neg())
        return left

    def neg(self) -> Expr:
        if self.word("not"):
            return Not(self.neg())
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.atom()
        token = self.peek()
        if token and token[0] == "op" and token[1] in ("==", "!="):
            self.i += 1
            return Compare(left, token[1], self.atom())
        return left

    def atom(self) -> Expr:
        kind, value, col = self.take()
        if kind == "op" and value == "(":
            inner = self.expr()
            closing = self.take()
            if closing[1] != ")":
                raise WhenError(f"expected ')' at column {closing[2]}")
            return inner
        if kind == "str":
            return Literal(value[1:-1])
        if kind == "int":
            return Literal(int(value))
        if kind == "name":
            if value in ("true", "false"):
                return Literal(value == "true")
            if value in ("and", "or", "not"):
                raise WhenError(f"'{value}' needs something before it (column {col})")
            return Name(value)
        raise WhenError(f"unexpected {value!r} at column {col}")


def parse_when(text: str) -> Expr:
    parser = _Parser(text)
    if not parser.tokens:
        raise WhenError("the condition is empty")
    tree = parser.expr()
    leftover = parser.peek()
    if leftover is not None:
        raise WhenError(f"unexpected {leftover[1]!r} at column {leftover[2]}")
    return tree


def names(tree: Expr) -> set[str]:
    """Every name the condition reads (for checking them against inputs and earlier steps)."""
    if isinstance(tree, Name):
        return {tree.path}
    if isinstance(tree, Compare):
        return names(tree.left) | names(tree.right)
    if isinstance(tree, Not):
        return names(tree.operand)
    if isinstance(tree, BoolOp):
        return names(tree.left) | names(tree.right)
    return set()


def evaluate(tree: Expr, lookup: Mapping[str, Any] | Callable[[str], Any]) -> bool:
    """True or False; a name missing from ``lookup`` is a WhenError (check catches it first)."""

    def value(node: Expr) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Name):
            try:
                return lookup(node.path) if callable(lookup) else lookup[node.path]
            except KeyError:
                raise WhenError(f"unknown name '{node.path}'") from None
        return truth(node)

    def truth(node: Expr) -> bool:
        if isinstance(node, Compare):
            left, right = value(node.left), value(node.right)
            same = str(left) == str(right) if isinstance(left, str) or isinstance(right, str) else left == right
            return same if node.op == "==" else not same
        if isinstance(node, Not):
            return not truth(node.operand)
        if isinstance(node, BoolOp):
            if node.op == "and":
                return truth(node.left) and truth(node.right)
            return truth(node.left) or truth(node.right)
        return bool(value(node))

    return truth(tree)
