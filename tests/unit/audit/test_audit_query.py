"""The search language as a user types it in chat, the CLI or the console."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opsroom.audit import parse_query
from opsroom.core import ParseError

# A Thursday afternoon.
NOW = datetime(2026, 11, 5, 15, 30, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_words_filters_and_time_together() -> None:
    q = parse_query("rollback user:alice channel:#ops since last tuesday break-glass", NOW)
    assert q.words == ("rollback", "break-glass")
    assert q.users == ("alice",) and q.channels == ("#ops",)
    assert q.since == utc(2026, 11, 3) and q.until is None


def test_last_tuesday_is_the_start_of_that_day() -> None:
    assert parse_query("since last tuesday", NOW).since == utc(2026, 11, 3, 0, 0)


def test_time_phrase_stops_where_the_time_ends() -> None:
    q = parse_query("since 2h ago restart api", NOW)
    assert q.since == utc(2026, 11, 5, 13, 30)
    assert q.words == ("restart", "api")


@pytest.mark.parametrize(
    ("text", "since", "until"),
    [
        ("since 2026-11-01", utc(2026, 11, 1), None),
        ("since:2026-11-01", utc(2026, 11, 1), None),
        ("until yesterday", None, utc(2026, 11, 5)),  # includes all of yesterday
        ("before yesterday", None, utc(2026, 11, 4)),  # excludes yesterday
        ("since yesterday until today", utc(2026, 11, 4), utc(2026, 11, 6)),
        ("since 30 minutes ago", utc(2026, 11, 5, 15, 0), None),
        ("since may", utc(2026, 5, 1), None),  # a month means all of it
        ('since:"last tuesday"', utc(2026, 11, 3), None),
    ],
)
def test_natural_times(text: str, since: datetime | None, until: datetime | None) -> None:
    q = parse_query(text, NOW)
    assert (q.since, q.until) == (since, until)


def test_days_follow_the_configured_timezone() -> None:
    # Midnight in Berlin (UTC+1 in November) is 23:00 UTC the day before.
    assert parse_query("since today", NOW, tz="Europe/Berlin").since == utc(2026, 11, 4, 23, 0)
    assert parse_query("since today", NOW).since == utc(2026, 11, 5)


def test_quotes_make_phrases_and_literal_colons() -> None:
    q = parse_query('"disk full" "http://example" user:"Alice Smith"', NOW)
    assert q.words == ("disk full", "http://example")
    assert q.users == ("Alice Smith",)


def test_repeated_keys_and_small_conveniences() -> None:
    q = parse_query("user:@alice user:bob run:#42 run:7 action:run command:rollback platform:slack", NOW)
    assert q.users == ("alice", "bob")
    assert q.run_ids == (42, 7)
    assert q.actions == ("run",) and q.commands == ("rollback",) and q.platforms == ("slack",)


def test_time_keywords_are_words_when_quoted_and_plain_text_is_kept() -> None:
    q = parse_query('"before" 10:30 50%', NOW)
    assert q.words == ("before", "10:30", "50%")


def test_empty_query_matches_everything() -> None:
    q = parse_query("   ", NOW)
    assert q == type(q)()
    assert q.describe() == "everything"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("owner:alice", "unknown filter 'owner:'"),
        ("http://x", "put it in double quotes"),
        ("since banana", "could not read a time after 'since'"),
        ("since", "could not read a time after 'since'"),
        ("until:whenever", "could not read 'whenever' as a time"),
        ("run:abc", "run: needs a run number"),
        ("run:99999999999999999999999", "run: needs a run number"),
        ("user:", "user: needs a value"),
        ('oops "unclosed', "missing closing quote"),
        ("since today until yesterday", "the time range is empty"),
        ("x" * 1001, "too long"),
    ],
)
def test_bad_input_gets_a_clear_message(text: str, says: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_query(text, NOW)
    assert says in str(err.value)


def test_unknown_filter_message_lists_what_is_allowed() -> None:
    with pytest.raises(ParseError) as err:
        parse_query("owner:alice", NOW)
    for key in ("user:", "command:", "channel:", "action:", "run:", "since", "until", "before"):
        assert key in str(err.value)


def test_describe_echoes_the_search() -> None:
    q = parse_query('rollback "disk full" user:alice since 2026-11-01', NOW)
    assert q.describe() == 'rollback "disk full" user:alice since 2026-11-01 00:00 UTC'


def test_unknown_timezone_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="unknown timezone"):
        parse_query("since today", NOW, tz="Mars/Olympus")
