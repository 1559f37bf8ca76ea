"""Templates: placeholders, escapes, env references, and single-pass filling."""

from __future__ import annotations

import sys

import pytest

from opsroom.core import ConfigError
from opsroom.runs.runners.templating import TemplateError, check_names, parse


def test_placeholders_and_literal_braces():
    t = parse("awk '{print $1}' {{x}} {svc}-{env}", where="t")
    assert t.arg_names == {"svc", "env"}
    assert t.render({"svc": "api", "env": "prod"}) == "awk '{print $1}' {x} api-prod"


def test_values_are_never_rescanned():
    t = parse("{a}:{b}", where="t")
    assert t.render({"a": "{b}", "b": "${HOME}"}) == "{b}:${HOME}"


def test_env_refs_only_where_allowed(monkeypatch):
    monkeypatch.setenv("OPS_T", "v")
    assert parse("${OPS_T}", where="t", allow_env=True).render({}) == "v"
    plain = parse("${OPS_T}", where="t")
    assert plain.arg_names == {"OPS_T"}  # "$" + the argument placeholder {OPS_T}
    assert plain.render({"OPS_T": "x"}) == "$x"


def test_env_ref_missing_names_the_variable_only(monkeypatch):
    monkeypatch.delenv("OPS_MISSING", raising=False)
    with pytest.raises(TemplateError, match="environment variable OPS_MISSING is not set"):
        parse("Bearer ${OPS_MISSING}", where="t", allow_env=True).render({})


def test_quote_applies_to_argument_values_only():
    t = parse("/a b/{x}", where="t")
    assert t.render({"x": "c d"}, quote=lambda v: v.replace(" ", "%20")) == "/a b/c%20d"


def test_builtin_python_placeholder():
    assert parse("{python}", where="t").render({}) == sys.executable


def test_single_arg_detection():
    assert parse("{n}", where="t").single_arg == "n"
    assert parse("{n}s", where="t").single_arg is None


def test_non_string_template_is_a_config_error():
    with pytest.raises(ConfigError, match="argv\\[1\\] must be a string"):
        parse(3, where="argv[1]")  # type: ignore[arg-type]


def test_check_names():
    check_names({"a", "python"}, ["a"], runner="exec")
    with pytest.raises(ConfigError, match=r"unknown placeholder \{b\}, \{c\} \(arguments: a\)"):
        check_names({"a", "b", "c"}, ["a"], runner="exec")
