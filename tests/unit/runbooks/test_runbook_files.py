"""Runbook files as authors write them, and `opsroom check`'s answers (golden: file, line and
message) for the mistakes people make."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsroom.commands.catalog import Catalog
from opsroom.commands.parser import parse
from opsroom.config.loader import DEMO_CONFIG
from opsroom.core import ConfigError, Place, Principal
from opsroom.runbooks.check import fill, runbook_problems
from opsroom.runbooks.parse import load_runbooks, parse_runbook
from opsroom.runbooks.when import WhenError, evaluate, parse_when

HEAD = """---
id: demo
title: Demo
inputs:
  - {name: env, type: enum, values: [staging, production], default: staging}
  - {name: version, type: string, pattern: '^v[0-9.]+$', required: false, example: v1.2.3}
---
"""


def book(body: str, head: str = HEAD) -> str:
    return head + body


def problems(text: str, catalog: Catalog) -> list[str]:
    return runbook_problems(parse_runbook(text, Path("runbooks/demo.md")), catalog)


def test_the_demo_runbook_parses_and_checks_clean(catalog: Catalog) -> None:
    (runbook,) = load_runbooks([DEMO_CONFIG.parent / "runbooks"])
    assert runbook.id == "payments-error-rate" and runbook.applies_to == {"alertname": "PaymentsErrorRate"}
    kinds = [(s.id, s.kind, s.auto) for s in runbook.steps]
    assert kinds[:3] == [("status", "command", True), ("error-rate", "command", True), ("logs", "command", True)]
    assert ("rollback", "command", False) in kinds
    assert sum(1 for s in runbook.steps if s.kind == "manual") == 3
    assert runbook.steps[2].on_fail == "continue"
    assert runbook.summary.startswith("Customers see failed payments.")
    assert runbook_problems(runbook, catalog) == []
    assert runbook.matches({"alertname": "PaymentsErrorRate", "severity": "page"})
    assert not runbook.matches({"alertname": "Other"})


def test_steps_keep_their_order_lines_and_attributes() -> None:
    text = book(
        "Prose.\n\n- [ ] look at the dashboard\n\n```opsroom {id=st auto=true when=\"env == 'production'\"}\n"
        "status payments {env}\n```\n\n```bash\n- [ ] not a step, a code block\n```\n"
    )
    runbook = parse_runbook(text, Path("x.md"))
    assert [(s.kind, s.text) for s in runbook.steps] == [
        ("manual", "look at the dashboard"),
        ("command", "status payments {env}"),
    ]
    lines = text.splitlines()
    assert lines[runbook.steps[0].line - 1] == "- [ ] look at the dashboard"
    assert lines[runbook.steps[1].line - 1].startswith("```opsroom")
    assert runbook.steps[1].when is not None and runbook.steps[1].auto


@pytest.mark.parametrize(
    "body, says",
    [
        (
            "```opsroom\nstatus payments\nlogs payments staging\n```\n",
            ":8: an opsroom block holds exactly one command (found 2)",
        ),
        ("```opsroom {id=Bad!}\nstatus\n```\n", ":8: step id 'Bad!'"),
        ("```opsroom {colour=red}\nstatus\n```\n", ":8: unknown attribute 'colour=red'"),
        ("```opsroom id=x\nstatus\n```\n", ":8: attributes go in braces"),
        ("```opsroom {auto=maybe}\nstatus\n```\n", ":8: auto= is true or false"),
        ('```opsroom {when="env =="}\nstatus\n```\n', ":8: when='env ==': the condition ends too early"),
        (
            "```opsroom {id=a}\nstatus\n```\n\n```opsroom {id=a}\nstatus\n```\n",
            ":12: step id 'a' is already used on line 8",
        ),
        ("Just prose.\n", ":1: a runbook needs at least one step"),
    ],
)
def test_file_mistakes_are_named_with_file_and_line(body: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_runbook(book(body), Path("runbooks/demo.md"))
    assert str(refused.value).startswith("runbooks/demo.md")
    assert says in str(refused.value)


@pytest.mark.parametrize(
    "body, says",
    [
        (
            "```opsroom\ndeploy payments {env} {tag}\n```\n",
            "runbooks/demo.md:8: step 'step-1': unknown input(s) {tag}; inputs: env, version",
        ),
        (
            "```opsroom\ndeploy paymnts {env}\n```\n",
            "runbooks/demo.md:8: step 'step-1': `deploy paymnts {env}` does not parse: ",
        ),
        ("```opsroom\ndeplyo payments {env}\n```\n", "does not parse: unknown command"),
        (
            "```opsroom {auto=true}\nrestart payments {env}\n```\n",
            "auto=true only for read-only commands; `restart` changes things",
        ),
        (
            '```opsroom {when="steps.later.ok"}\nstatus payments {env}\n```\n\n```opsroom {id=later}\nstatus\n```\n',
            "when: 'steps.later.ok' names no step above this one",
        ),
        (
            "```opsroom {when=\"region == 'eu'\"}\nstatus payments {env}\n```\n",
            "when: 'region' is not an input of this runbook",
        ),
        ("```opsroom\nstatus payments {env}\n```\n", "runbooks/demo.md:1: input 'version' is never used by a step"),
    ],
)
def test_check_finds_what_would_break_at_run_time(catalog: Catalog, body: str, says: str) -> None:
    found = problems(book(body), catalog)
    assert any(says in p for p in found), found


def test_an_input_with_a_pattern_needs_an_example(catalog: Catalog) -> None:
    head = HEAD.replace(", example: v1.2.3", "")
    found = problems(book("```opsroom\nrollback payments {version} env={env}\n```\n", head), catalog)
    assert found == ["runbooks/demo.md:1: input 'version' needs an `example:` value to check the steps with"]


@pytest.mark.parametrize("value", ["v1 env=production", "x' --dry-run '", 'a"b', "payments; rm -rf /", "$(id)", "a  b"])
def test_filled_values_stay_one_argument(value: str) -> None:
    from opsroom.commands.lists import ChoiceLists

    note = Catalog.from_config(
        {
            "note": {
                "summary": "Write a note",
                "args": [
                    {"name": "text", "type": "string"},
                    {"name": "env", "type": "enum", "values": ["staging", "production"]},
                ],
                "runner": {"type": "python", "function": "builtins:print"},
            }
        },
        [],
        Path("."),
        ChoiceLists(),
        plugins=False,
        source="none.yaml",
    )
    text = fill("note {text} env={env}", {"text": value, "env": "staging"})
    invocation = parse(text, note, Principal("alice"), Place("shell", "ops"))
    assert invocation.args == {"text": value, "env": "staging"}
    assert not invocation.flags  # a value can never smuggle in --dry-run or another argument


names = st.sampled_from(["env", "version", "steps.a.ok", "steps.a.failed"])
literals = st.one_of(st.sampled_from(["'production'", "'staging'", "''", "1", "true", "false"]))
comparisons = st.builds(lambda n, o, v: f"{n} {o} {v}", names, st.sampled_from(["==", "!="]), literals)
atoms = st.one_of(names, literals, comparisons)
exprs = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"{a} and {b}", inner, inner),
        st.builds(lambda a, b: f"{a} or {b}", inner, inner),
        st.builds(lambda a: f"not {a}", inner),
        st.builds(lambda a: f"({a})", inner),
    ),
    max_leaves=8,
)
FACTS = {"env": "production", "version": "", "steps.a.ok": True, "steps.a.failed": False}


@settings(max_examples=200, deadline=None)
@given(exprs)
def test_when_conditions_agree_with_python_semantics(text: str) -> None:
    python = text
    for name, value in sorted(FACTS.items(), key=lambda kv: -len(kv[0])):
        python = python.replace(name, repr(value))
    expected = eval(python.replace("true", "True").replace("false", "False"), {"__builtins__": {}})  # noqa: S307
    assert evaluate(parse_when(text), FACTS) is bool(expected)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_either_parses_or_is_a_when_error(text: str) -> None:
    try:
        tree = parse_when(text)
    except WhenError:
        return
    try:
        evaluate(tree, FACTS)
    except WhenError as err:
        assert "unknown name" in str(err)
