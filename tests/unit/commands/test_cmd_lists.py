"""Dynamic choice lists: fixed values, JSON files that change under us, Python providers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from opsroom.commands import Catalog, ChoiceLists, ListUnavailable, arg, parse
from opsroom.config.models import ListConfig
from opsroom.core import CommandSpec, ConfigError, ParseError, Place, Principal, RunnerSpec


def write_json(path: Path, data: object, *, bump: int = 0) -> None:
    path.write_text(json.dumps(data))
    if bump:  # make sure the change is visible even on coarse-mtime filesystems
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))


def test_fixed_values() -> None:
    lists = ChoiceLists({"envs": ListConfig(values=["dev", "prod"])})
    assert list(lists.get("envs")) == ["dev", "prod"]
    assert "envs" in lists and lists.names() == ["envs"]
    with pytest.raises(KeyError):
        lists.get("nope")


def test_json_file_keys_at_a_dotted_path_relative_to_base_dir(tmp_path: Path) -> None:
    write_json(tmp_path / "svc.json", {"catalog": {"services": {"api": {}, "payments": {}}}})
    lists = ChoiceLists({"services": {"file": "svc.json", "path": "catalog.services"}}, base_dir=tmp_path)
    assert list(lists.get("services")) == ["api", "payments"]


def test_json_file_items_of_an_array(tmp_path: Path) -> None:
    write_json(tmp_path / "regions.json", ["eu-west-1", "us-east-1", "eu-west-1"])
    lists = ChoiceLists({"regions": {"file": str(tmp_path / "regions.json")}})
    assert list(lists.get("regions")) == ["eu-west-1", "us-east-1"]


def test_file_that_changes_between_calls_is_reread(tmp_path: Path) -> None:
    path = tmp_path / "svc.json"
    write_json(path, {"services": ["api"]})
    lists = ChoiceLists({"services": {"file": "svc.json", "path": "services"}}, base_dir=tmp_path)
    assert list(lists.get("services")) == ["api"]
    write_json(path, {"services": ["api", "payments"]}, bump=1)
    assert list(lists.get("services")) == ["api", "payments"]


def test_parse_sees_a_new_service_without_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "svc.json"
    write_json(path, ["api"])
    lists = ChoiceLists({"services": {"file": "svc.json"}}, base_dir=tmp_path)
    spec = CommandSpec(
        "status",
        summary="Status",
        args=(arg("service", "choice", choices_from="services"),),
        runner=RunnerSpec("exec", {"argv": ["x"]}),
    )
    catalog = Catalog([spec], lists)
    who, where = Principal("alice"), Place("web", "ops")
    with pytest.raises(ParseError, match="not in the `services` list"):
        parse("status billing", catalog, who, where)
    write_json(path, ["api", "billing"], bump=1)
    assert parse("status billing", catalog, who, where).args["service"] == "billing"


def test_broken_rewrite_keeps_the_last_good_values(tmp_path: Path) -> None:
    path = tmp_path / "svc.json"
    write_json(path, ["api"])
    lists = ChoiceLists({"services": {"file": "svc.json"}}, base_dir=tmp_path)
    path.write_text('["api", "pay')  # half-written
    assert list(lists.get("services")) == ["api"]
    path.unlink()
    assert list(lists.get("services")) == ["api"]
    write_json(path, ["api", "payments"], bump=2)
    assert list(lists.get("services")) == ["api", "payments"]


@pytest.mark.parametrize(
    "cfg, expected",
    [
        ({"file": "missing.json"}, "lists.services.file:"),
        ({"file": "bad.json"}, "not valid JSON"),
        ({"file": "ok.json", "path": "nope"}, "path `nope` not found"),
        ({"file": "ok.json", "path": "n"}, "neither an object nor an array"),
        ({"values": ["a"], "file": "ok.json"}, "either `values` or `file`, not both"),
        ({"path": "x"}, "`path` needs a `file`"),
        ({}, "needs `values` or `file`"),
        ({"valuez": ["a"]}, "lists.services.valuez: unknown key"),
        ({"values": ["ok", "bad\nvalue"]}, "control characters"),
    ],
)
def test_bad_list_config_is_a_config_error(tmp_path: Path, cfg: dict[str, object], expected: str) -> None:
    (tmp_path / "bad.json").write_text("{nope")
    write_json(tmp_path / "ok.json", {"n": 3})
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
        ChoiceLists({"services": cfg}, base_dir=tmp_path)


def test_python_provider_is_called_each_time() -> None:
    live = ["a"]
    lists = ChoiceLists()
    lists.register("clusters", lambda: list(live))
    assert list(lists.get("clusters")) == ["a"]
    live.append("b")
    assert list(lists.get("clusters")) == ["a", "b"]
    with pytest.raises(ConfigError, match="already defined"):
        lists.register("clusters", lambda: [])


def test_failing_provider_is_unavailable_not_a_crash() -> None:
    lists = ChoiceLists()
    lists.register("clusters", lambda: 1 / 0)  # type: ignore[arg-type, return-value]
    with pytest.raises(ListUnavailable, match="`clusters`"):
        lists.get("clusters")


def test_values_are_nfkc_normalised_like_typed_text() -> None:
    lists = ChoiceLists({"svc": {"values": ["ａｐｉ", "Payments", "payments"]}})
    assert list(lists.get("svc")) == ["api", "Payments"]
