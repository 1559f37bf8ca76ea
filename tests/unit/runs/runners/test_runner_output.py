"""Splitting output into lines and capping it."""

from __future__ import annotations

from opsroom.runs.runners.output import MAX_LINE_BYTES, ByteBudget, LineSplitter, excerpt


def test_lines_across_reads_and_crlf():
    s = LineSplitter()
    assert s.feed(b"one\r\ntw") == ["one"]
    assert s.feed(b"o\nthr") == ["two"]
    assert s.finish() == ["thr"]


def test_multibyte_character_split_between_reads():
    s = LineSplitter()
    data = "héllo wörld\n".encode()
    assert s.feed(data[:2]) == []
    assert s.feed(data[2:]) == ["héllo wörld"]


def test_endless_line_is_emitted_in_pieces():
    s = LineSplitter()
    pieces = s.feed(b"x" * (MAX_LINE_BYTES * 2 + 10))
    assert [len(p) for p in pieces] == [MAX_LINE_BYTES, MAX_LINE_BYTES]
    assert s.finish() == ["x" * 10]


def test_budget_keeps_the_first_bytes_and_counts_the_rest():
    b = ByteBudget(5)
    assert b.take(b"abc") == b"abc"
    assert b.take(b"defgh") == b"de"
    assert b.take(b"ijk") == b""
    assert b.dropped == 6
    assert b.dropped_line() == "[output truncated: 6 bytes dropped after the first 5 bytes]"


def test_excerpt():
    assert excerpt("abcdef", 4) == ("abcd", 2)
    assert excerpt("ab", 4) == ("ab", 0)
