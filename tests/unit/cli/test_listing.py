"""``list``, ``current`` and ``previous``: whole release IDs, pruned history on request, real JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pushdeploy.cli import listing
from pushdeploy.engine.deploy import HostHistory
from pushdeploy.remote import history, protocol
from pushdeploy.transport.local import RecordingTransport
from tests.support.cli import Result, run_cli

SHA = "0123456789abcdef" * 2 + "01234567"
IDS = [f"2024010{n}T120000Z-0123456" for n in range(1, 5)]


def line(release: str, *, action: str = "deploy", outcome: str = "ok") -> str:
    return "\t".join([SHA, "2024-01-01T12:00:00Z", release, "main", "ann@laptop", action, outcome])


def status_host(live: str, on_disk: list[str], deploys: list[str]) -> RecordingTransport:
    """A fake host answering the status script: what is live, on disk and in .deploys."""
    replies = [f"value live {live}"]
    replies += [f"line releases {r}" for r in on_disk]
    replies += [f"line deploys {d}" for d in deploys] + ["done"]
    return RecordingTransport(
        "fake", lambda host, script: None, [protocol.PREFIX + r for r in replies]
    )


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Four deploys, the third live, the fourth bad, the first pruned; deploy.conf for [app]."""
    host = status_host(
        IDS[2],
        IDS[1:],
        [line(r) for r in IDS] + [line(IDS[3], action="deploy", outcome="bad")],
    )
    monkeypatch.setattr("pushdeploy.transport.open_transport", lambda *args: host)
    (tmp_path / "deploy.conf").write_text("[app]\nhost = example.test\nrepo = /r\npath = /p\n")
    return tmp_path


def run(base: Path, *argv: str) -> Result:
    return run_cli("-C", base, *argv)


def test_rows_say_state_liveness_and_the_revert_count() -> None:
    entries = history.parse([line(r) for r in IDS] + [line(IDS[3], outcome="bad")])
    rows = listing.rows(HostHistory(IDS[2], entries, IDS[1:]))
    assert [(r["release"], r["state"], r["live"], r["revert"]) for r in rows] == [
        (IDS[0], "pruned", False, 2),
        (IDS[1], "ok", False, 1),
        (IDS[2], "ok", True, None),
        (IDS[3], "bad", False, None),
    ]


def test_tjs_lines_are_listed_each_and_the_last_is_live_while_source_is() -> None:
    entries = history.parse(["abc1234", "def5678"])
    rows = listing.rows(HostHistory("", entries, [], tj_live=True))
    assert [(r["sha"], r["state"], r["live"], r["revert"]) for r in rows] == [
        ("abc1234", "tj", False, 1),
        ("def5678", "tj", True, None),
    ]


def test_a_release_built_from_a_tj_line_is_that_lines_row_and_live() -> None:
    """After a revert into TJ's history, ``list`` marks TJ's line live, named by its release."""
    built = "20240105T120000Z-def5678"
    revert = "\t".join(["def5678" + "0" * 33, "t", built, "-", "ann@laptop", "revert", "ok"])
    entries = history.parse(["abc1234", "def5678", line(IDS[0]), revert])
    rows = listing.rows(HostHistory(built, entries, [IDS[0], built]))
    assert [(r["release"], r["sha"], r["state"], r["live"], r["revert"]) for r in rows] == [
        ("source (TJ's deploy)", "abc1234", "tj", False, 1),
        (built, "def5678", "tj", True, None),
        (IDS[0], SHA, "ok", False, None),
    ]


def test_unknown_fields_are_null_in_json() -> None:
    assert listing.describe(None, "") == dict.fromkeys(("release", "sha", "ref", "time", "who"))
    assert listing.describe(history.Entry(sha=SHA[:7]), "")["ref"] is None


def test_list_hides_pruned_releases_unless_all(served: Path) -> None:
    shown = run(served, "app", "list")
    assert shown.status == 0
    assert IDS[0] not in shown.stdout and "1 pruned release not shown (--all)" in shown.stderr
    assert IDS[0] in run(served, "--all", "app", "list").stdout


def test_list_prints_whole_ids_in_aligned_columns_when_piped(served: Path) -> None:
    lines = run(served, "--all", "app", "list").stdout.splitlines()
    assert lines[0].split() == ["release", "ref", "sha", "deployed", "by", "state"]
    assert [ln.split()[-1] for ln in lines[1:]] == ["pruned", "ok", "ok", "bad"]
    assert lines[3].startswith(f"*  {IDS[2]}  main")
    assert len({ln.index("main") for ln in lines[1:]}) == 1  # one column, whatever the rows
    assert "…" not in "".join(lines)


def test_narrow_columns_never_cut_a_release_id(
    served: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "20")
    out = run(served, "app", "list").stdout
    assert all(release in out for release in IDS[1:])


def test_list_json_has_booleans_numbers_and_nulls(served: Path) -> None:
    data = json.loads(run(served, "--json", "--all", "app", "list").stdout)
    rows = data["example.test"]
    assert [r["live"] for r in rows] == [False, False, True, False]
    assert [r["revert"] for r in rows] == [2, 1, None, None]
    assert rows[2]["sha"] == SHA


def test_current_and_previous_json_use_the_same_types(served: Path) -> None:
    current = json.loads(run(served, "--json", "app", "current").stdout)
    previous = json.loads(run(served, "--json", "app", "previous").stdout)
    assert next(iter(current.values()))["release"] == IDS[2]
    assert next(iter(previous.values()))["release"] == IDS[1]


def test_nothing_live_is_null_not_an_empty_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pushdeploy.transport.open_transport", lambda *a: status_host("", [], []))
    (tmp_path / "deploy.conf").write_text("[app]\nhost = example.test\nrepo = /r\npath = /p\n")
    data = json.loads(run(tmp_path, "--json", "app", "current").stdout)
    assert data == {"example.test": dict.fromkeys(("release", "sha", "ref", "time", "who"))}
    assert run(tmp_path, "app", "current").stdout == "nothing deployed\n"
