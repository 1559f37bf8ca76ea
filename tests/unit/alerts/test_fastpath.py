"""The Alertmanager fast path decides only what the general path (strict JSON, then
``parse_alertmanager``) decides the same way: every body it accepts gives the very alerts
the general path gives, a body it refuses as too big is one the general path refuses as too
big, and everything else is left to the general path."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.unit.alerts.test_hook_bodies_fuzz import body as hostile_body

from opsroom.alerts import fastpath
from opsroom.alerts.intake import IntakeError, alertmanager_payload, count_alerts, parse_alertmanager
from opsroom.web.intake import BadBody, loads

MAX = 5


def general(raw: bytes) -> object:
    """What the general path makes of ``raw``: alerts, "too many", or "refused"."""
    try:
        payload = loads(raw)
    except BadBody:
        return "refused"
    if count_alerts(payload) > MAX:
        return "too many"
    try:
        return parse_alertmanager(payload, source="am")
    except (IntakeError, RecursionError):
        return "refused"


def fast(raw: bytes) -> object:
    try:
        return fastpath.alertmanager(raw, source="am", max_alerts=MAX)
    except fastpath.TooManyAlerts:
        return "too many"


def agrees(raw: bytes) -> bool:
    """True when the fast path decided (and agreed); False when it left the body alone."""
    mine = fast(raw)
    if mine is None:
        return False
    assert mine == general(raw), raw
    return True


text = st.text(max_size=12) | st.sampled_from(["", "\x00", "x" * 2001, "é\u2028", "resolved", " Resolved "])
times = st.sampled_from(["2025-03-03T12:00:00Z", "0001-01-01T00:00:00Z", "2025-03-03T12:00:00.123456789+02:00", ""])
names = st.sampled_from(["alertname", "severity", "instance", "", "x" * 201])
alert = st.fixed_dictionaries(
    {"labels": st.dictionaries(names, text, max_size=4)},
    optional={
        "annotations": st.dictionaries(names, text | st.just("y" * 10_001), max_size=3) | st.none(),
        "status": st.sampled_from(["firing", "resolved", "RESOLVED", "pending"]) | st.none(),
        "startsAt": times | st.just("yesterday") | st.none(),
        "endsAt": times,
        "generatorURL": text,
        "fingerprint": text | st.just("f" * 129),
    },
)
envelope = st.fixed_dictionaries(
    {"alerts": st.lists(alert, max_size=7)},
    optional={
        "version": st.sampled_from(["4", "3", "5", 4]),
        "externalURL": text,
        "truncatedAlerts": st.integers(-(2**70), 2**70),
        "commonLabels": st.dictionaries(names, text, max_size=2),
        "routeLabels": st.dictionaries(names, text, max_size=2),  # a field newer than the fast path
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelope)
def test_well_formed_bodies_get_the_same_alerts(payload: dict[str, object]) -> None:
    agrees(json.dumps(payload).encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_body)
def test_hostile_bodies_are_left_alone_or_decided_alike(raw: str) -> None:
    agrees(raw.encode("utf-8", "surrogatepass"))


def test_the_common_body_takes_the_fast_path() -> None:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "DiskFull", "instance": f"h{i}", "severity": "critical"},
            "annotations": {"summary": "disk full", "description": "98%"},
            "startsAt": "2025-03-03T12:00:00.5Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph",
            "fingerprint": f"fp{i}",
        }
        for i in range(MAX)
    ]
    raw = json.dumps(alertmanager_payload(alerts, external_url="http://am:9093")).encode()
    assert agrees(raw)
    assert [a.fingerprint for a in fast(raw)] == [f"fp{i}" for i in range(MAX)]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"alerts": [{"labels": {"a": 1}}]}',  # a number as a label: the general path converts it
        b'{"alerts": [{"labels": {"a": "b", "c": null}}]}',  # a null label is dropped there
        b'{"alerts": [{"labels": {"a": "b"}, "silenceURL": "x"}]}',  # an unknown field
        b'{"alerts": [{"labels": {"a": "b"}}], "x": ' + b"[" * 40 + b"]" * 40 + b"}",  # too deep there
        b'{"alerts": [{"labels": {"a": "\\ud800"}}]}',
        b'{"alerts": [{"labels": {"a": NaN}}]}',
    ],
)
def test_bodies_outside_the_common_shape_go_the_general_way(raw: bytes) -> None:
    assert fast(raw) is None


def test_assembled_alerts_are_the_dataclass_s_own() -> None:
    """The fast path's ``assembled`` fills every field the dataclass has, in its order, and
    gives an object equal to ``Alert(...)`` in every way callers look at it."""
    import dataclasses
    import datetime as dt

    from opsroom.alerts.model import Alert, assembled

    values = {
        "fingerprint": "fp",
        "status": "resolved",
        "labels": {"alertname": "A"},
        "annotations": {"summary": "s"},
        "starts_at": dt.datetime(2025, 3, 3, tzinfo=dt.UTC),
        "ends_at": None,
        "source": "am",
        "source_type": "alertmanager",
        "generator_url": "http://p",
        "external_url": "http://am",
    }
    assert [f.name for f in dataclasses.fields(Alert)] == list(values)
    mine, theirs = assembled(*values.values()), Alert(**values)  # type: ignore[arg-type]
    assert mine == theirs and repr(mine) == repr(theirs) and vars(mine) == vars(theirs)
    assert dataclasses.asdict(mine) == dataclasses.asdict(theirs) and mine.alertname == "A"
    with pytest.raises(dataclasses.FrozenInstanceError):
        mine.status = "firing"  # type: ignore[misc]


def _one(labels: dict[str, str], **fields: str) -> bytes:
    item = {"labels": labels, "annotations": {"summary": fields.pop("summary", "s")}, **fields}
    return json.dumps({"alerts": [item]}, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("raw", "decided"),
    [
        # Limits count characters, not bytes: a text of two-byte characters at the limit is
        # the fast path's; one character more is left to the general path (refused or cut).
        (_one({"alertname": "é" * 2000}), True),
        (_one({"alertname": "é" * 2001}), False),
        (_one({"a" * 200: "x"}), True),
        (_one({"a" * 201: "x"}), False),
        (_one({"": "x"}), False),
        (_one({f"l{i}": "x" for i in range(100)}), True),
        (_one({f"l{i}": "x" for i in range(101)}), False),
        (_one({"a": "b"}, summary="€" * 10_000), True),
        (_one({"a": "b"}, summary="€" * 10_001), False),  # the general path truncates it
        (_one({"a": "b"}, generatorURL="h" * 2000, fingerprint="f" * 128), True),
        (_one({"a": "b"}, generatorURL="h" * 2001), False),
        (_one({"a": "b"}, fingerprint="f" * 129), False),
        # A NUL anywhere, even in a field the alerts do not use, is the general path's to name.
        (_one({"a": "b\x00"}), False),
        (_one({"a": "b"}, summary="\x00"), False),
        (b'{"alerts": [{"labels": {"a": "b"}}], "receiver": "r\\u0000"}', False),
        (b'{"alerts": [{"labels": {"a": "b\\\\u0000"}}]}', False),  # a backslash, then u0000: left alone
    ],
)
def test_limits_and_nul_are_decided_as_the_general_path_does(raw: bytes, decided: bool) -> None:
    assert agrees(raw) is decided
    if not decided:
        general(raw)  # the general path answers it (alerts, refused or too many) without error
