"""``status``: markers read as untrusted data, drift named, the table, JSON and exit 9."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pushdeploy import sources
from pushdeploy.cli import drift
from pushdeploy.config import deployconf as config
from pushdeploy.config.environment import Environment
from pushdeploy.errors import ConnectionError
from pushdeploy.remote import protocol, scripts, status
from pushdeploy.remote.protocol import Outcome
from pushdeploy.transport.local import RecordingTransport
from tests.support.cli import Result, run_cli

SHA = "0123456789abcdef" * 2 + "01234567"
OTHER = "89abcdef" * 5
A, B = "20240101T120000Z-0123456", "20240102T120000Z-89abcde"
ESC = "\x1b]0;pwned\x07\x1b[2J"


def line(release: str, sha: str = SHA, outcome: str = "ok") -> str:
    return "\t".join(
        [sha, "2024-01-01T12:00:00Z", release, "main", "ann@laptop", "deploy", outcome]
    )


def said(live: str = A, *extra: str, sha: str = SHA, deploys: tuple[str, ...] = ()) -> list[str]:
    """The markers of a healthy host with ``live`` deployed (and ``extra`` markers after)."""
    history = (deploys or (line(live, sha),)) if live else ()
    markers = [f"value live {live}", f"value link releases/{live}" if live else "value link "]
    markers += [f"line releases {live}"] if live else []
    markers += [f"line deploys {entry}" for entry in history]
    markers += [f"value sha {sha}"] if live else []
    markers += ["value setup yes", "value disk 10485760 5242880", "value inodes 1000 900"]
    return [*markers, *extra]


def outcome(markers: list[str]) -> Outcome:
    found = Outcome(0)
    for marker in [*markers, "done"]:
        found.add(protocol.parse(protocol.PREFIX + marker))
    return found


def host(markers: list[str], name: str = "web1") -> status.HostStatus:
    return status.parse(name, outcome(markers))


def monitor(data: Any, exit_status: str = "0") -> status.Monitor | None:
    text = data if isinstance(data, str) else json.dumps(data, indent=2).replace("\n", "")
    return host(said(A, f"value monitor_status {exit_status}", f"value monitor {text}")).monitor


def test_a_healthy_host_reads_as_its_release_sha_history_and_disk() -> None:
    found = host(said(A))
    assert (found.release, found.sha, found.set_up, found.missing) == (A, SHA, True, False)
    assert (found.entry and found.entry.ref, found.free_kib, found.free_inodes) == (
        "main",
        5242880,
        900,
    )
    assert (found.lock, found.monitor, drift.drift([found])) == ("", None, [])


@pytest.mark.parametrize(
    ("markers", "field", "expected"),
    [
        (["value live ../../etc", "value link ../../etc"], "live", ""),
        (["value live ../../etc", "value link ../../etc"], "link", "../../etc"),
        (["value link " + "x" * 5000], "link", "x" * 1000 + "…"),
        (["value live " + A, "value sha $(id)"], "sha", ""),
        (["value lock " + ESC], "lock", ESC),
        (["value lock " + "y" * 1000], "lock", "y" * 300 + "…"),
        (["value lock_age -5"], "lock_age", None),
        (["value lock_age 99999999999999999999999"], "lock_age", None),
        (["value disk 10 junk"], "free_kib", None),
        (["value inodes 0 0"], "free_inodes", None),  # a file system that counts no inodes
        (["value live " + A], "missing", True),  # current points at a release not on disk
    ],
)
def test_what_a_server_says_is_checked_before_it_is_kept(
    markers: list[str], field: str, expected: object
) -> None:
    assert expected == getattr(host(markers), field)


def test_a_malformed_history_line_is_a_problem_said_and_never_used() -> None:
    found = host(said(A, deploys=("../../etc\tx\ty", line(A))))
    assert found.problems == (".deploys line 1 ignored: not a full commit SHA: '../../etc'",)
    assert found.entry is not None and found.entry.release == A


def test_tjs_source_as_current_is_a_release_of_its_own_with_tjs_last_line() -> None:
    found = host(
        ["value live ", "value link /srv/app/source", "line deploys abc1234", "value setup yes"]
    )
    assert (found.release, found.entry and found.entry.sha) == (status.TJ_SOURCE, "abc1234")
    assert drift.drift([found]) == []


@pytest.mark.parametrize(
    ("exit_status", "expected"),
    [
        ("none", status.Monitor("not installed")),
        (str(protocol.MONITOR_NOT_RUNNING), status.Monitor("stopped")),
        ("124", status.Monitor("error", error="'monitor status' failed: no answer within 15s")),
        ("1", status.Monitor("error", error="'monitor status' failed: status 1")),
    ],
)
def test_the_monitors_exit_status_says_whether_it_runs(
    exit_status: str, expected: status.Monitor
) -> None:
    assert expected == monitor("", exit_status)


def test_the_monitors_status_gives_its_workers_generation_and_last_verdict() -> None:
    data = {
        "state": "running",
        "pid": 42,
        "generation": 3,
        "release": f"/srv/app/releases/{A}",
        "workers": [{"ready": True}, {"ready": False}, {"ready": True}],
        "reload": {"result": "ok"},
        "last_reload": {"result": "failed", "reason": "worker exited"},
        "respawns": 2,
        "unknown": "ignored",
    }
    expected = status.Monitor("running", 42, 3, A, 3, 2, 2, False, "failed", "worker exited")
    assert expected == monitor(data)
    assert expected.summary() == "running, gen 3, 2/3 workers, last reload failed"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {
                "state": "$(id)",
                "pid": True,
                "generation": "3",
                "release": "../../x",
                "respawns": -1,
            },
            status.Monitor("running"),
        ),
        (
            {"workers": "ready", "reload": [], "last_reload": {"result": "\x1b[2J", "reason": 7}},
            status.Monitor("running"),
        ),
        (
            {"workers": [1, None, [True], {"ready": "yes"}], "generation": 2**60, "pid": 1.5},
            status.Monitor("running", workers=1, ready=0),
        ),
        (
            {"last_reload": {"result": "failed", "reason": "r" * 1000}},
            status.Monitor("running", last_reload="failed", last_reload_reason="r" * 300 + "…"),
        ),
    ],
)
def test_hostile_monitor_fields_are_dropped_not_trusted(
    data: dict[str, Any], expected: status.Monitor
) -> None:
    assert expected == monitor(data)


@pytest.mark.parametrize(
    "text", ["{not json", "[1, 2]", '"running"', "", "{" * 100_000, "[" * 100_000]
)
def test_a_monitor_status_that_is_no_json_object_is_an_error(text: str) -> None:
    assert monitor(text) == status.Monitor("running", error="its status is not a JSON object")


def running(release: str = A, **fields: Any) -> str:
    data = {"state": "running", "generation": 1, "release": f"/p/releases/{release}", **fields}
    return "value monitor " + json.dumps(data)


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        ([said(A), said(A)], []),
        (
            [said(A), said(B), said("")],
            [f"hosts on different releases: {A} on web1; {B} on web2; nothing live on web3"],
        ),
        ([["value live ", "value link "]], ["web1: not set up"]),
        (
            [said("", "value link ../../etc")],
            ["web1: current points at '../../etc', not at a release"],
        ),
        ([said(A, deploys=(line(B),))], [f"web1: the live release {A} is not in .deploys"]),
        (
            [[m for m in said(A) if not m.startswith("line releases")]],
            [f"web1: current points at {A}, which is not on disk"],
        ),
        ([said(A, "value lock ann (pid 1)")], ["web1: locked by ann (pid 1)"]),
        (
            [said(A, "value lock ann", "value lock_age 600")],
            ["web1: locked by ann (stale)"],
        ),
        (
            [said(A, "value disk 100 12")],
            ["web1: the disk holding the deploy root is full (12 KiB left)"],
        ),
        (
            [said(A, "value inodes 1000 0")],
            ["web1: the disk holding the deploy root is full (no inode left)"],
        ),
        ([said(A, "value monitor_status none")], ["web1: the monitor is not installed"]),
        ([said("", "value monitor_status none")], []),  # nothing to serve yet
        ([said(A, "value monitor_status 3")], ["web1: the monitor is stopped"]),
        (
            [said(A, "value monitor_status 0", running(B))],
            [f"web1: the monitor serves {B}, not the live release {A}"],
        ),
        ([said(A, "value monitor_status 0", running(B, reload={"result": "pending"}))], []),
        ([said(A, "value monitor_status 0", running(A))], []),
        (
            [said(A, "value monitor_status 0", running(A, state="failed"))],
            ["web1: the monitor has failed"],
        ),
    ],
)
def test_drift_names_each_host_and_what_is_wrong(
    hosts: list[list[str]], expected: list[str]
) -> None:
    statuses = [host(markers, f"web{n}") for n, markers in enumerate(hosts, 1)]
    assert expected == drift.drift(statuses)


def test_a_live_release_whose_revision_disagrees_with_nothing_is_no_drift() -> None:
    """The SHA shown is REVISION's; .deploys having another one is not checked (the ID names it)."""
    assert drift.drift([host(said(A, sha=OTHER)), host(said(A), "web2")]) == []


@pytest.mark.parametrize(
    ("kib", "expected"),
    [
        (None, "?"),
        (0, "0 KiB"),
        (1023, "1023 KiB"),
        (1024, "1.0 MiB"),
        (5242880, "5.0 GiB"),
        (3 * 1024**3 + 1024**2 * 512, "3.5 TiB"),
        (1024**5, "1048576.0 TiB"),
    ],
)
def test_sizes_are_shown_in_binary_units(kib: int | None, expected: str) -> None:
    assert expected == drift.size(kib)


# -- the script ----------------------------------------------------------------------------------


def environment(tmp_path: Path, extra: str = "") -> Environment:
    conf = tmp_path / "deploy.conf"
    conf.write_text(f"[app]\nhost = web1\nrepo = /r\npath = /srv/it's here\n{extra}")
    return config.load(conf, "app")


@pytest.mark.parametrize("extra", ["", "app = python3 app.py\nlisten = 127.0.0.1:3000\n"])
def test_the_script_is_valid_bash_and_reads_only(tmp_path: Path, extra: str) -> None:
    env = environment(tmp_path, extra + "env = SECRET=x\nbuild = make\n")
    text = status.script(env, sources.of(env))
    checked = subprocess.run(
        ["bash", "-n"], input=text, capture_output=True, text=True, check=False
    )
    assert (checked.stderr, checked.returncode) == ("", 0)
    assert text.startswith("# pushdeploy status\n")
    body = text.split(scripts.PRELUDE.rstrip("\n"))[1]
    assert ("lock" in body, "lock_take" in body) == (True, False)  # reads the lock, takes none
    assert "USER_ENV=()" in text and "BUILD=" not in text and "SECRET" not in text
    assert ("\nstatus_monitor " in body) == bool(extra)
    assert "'/srv/it'\"'\"'s here'" in text


# -- the command, through the CLI with a recording transport per host ---------------------------


def fleet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replies: dict[str, list[str] | None]
) -> Path:
    """deploy.conf with a host per reply list; each host answers the status script so."""

    def opener(env: object, found: Any, warn: object, policy: object) -> RecordingTransport:
        markers = replies[found.spec]
        if markers is None:
            raise ConnectionError(f"cannot connect to {found.spec}: connection refused")
        lines = [protocol.PREFIX + r for r in [*markers, "done"]]
        return RecordingTransport(found.spec, lambda label, script: None, lines)

    monkeypatch.setattr("pushdeploy.transport.open_transport", opener)
    (tmp_path / "deploy.conf").write_text(
        f"[app]\nhost = {' '.join(replies)}\nrepo = /r\npath = /p\n"
    )
    return tmp_path


def run(base: Path, *argv: str) -> Result:
    return run_cli("-C", base, *argv)


def test_hosts_on_one_release_exit_0_with_a_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = fleet(tmp_path, monkeypatch, {"web1": said(A), "web2": said(A)})
    result = run(base, "app", "status")
    assert (result.status, result.error_lines) == (0, [])
    rows = [row.split() for row in result.stdout.splitlines()]
    assert rows == [
        ["host", "release", "sha", "lock", "monitor", "free"],
        ["web1", A, SHA[:7], "-", "-", "5.0", "GiB"],
        ["web2", A, SHA[:7], "-", "-", "5.0", "GiB"],
    ]


def test_drift_is_listed_after_the_table_and_exits_9(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = fleet(tmp_path, monkeypatch, {"web1": said(A), "web2": said(B, "value lock " + ESC)})
    result = run(base, "app", "status")
    assert result.status == 9
    assert f"hosts on different releases: {A} on web1; {B} on web2" in result.stderr
    assert result.error_lines == [
        f"pushdeploy: error: drift: hosts on different releases: {A} on web1; {B} on web2"
        " (and 1 more)"
    ]
    assert "\x1b" not in result.stdout + result.stderr
    assert "\\x1b]0;pwned\\x07" in result.stdout
    assert "app unlock' removes the lock" in result.stderr  # the hint, with ENV filled in


def test_json_is_one_object_with_every_host_and_the_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = ["value monitor_status 0", running(A, workers=[{"ready": True}])]
    base = fleet(tmp_path, monkeypatch, {"web1": said(A, *app), "web2": said("", "value lock x")})
    result = run(base, "--json", "app", "status")
    assert result.status == 9
    data = json.loads(result.stdout)
    assert (data["command"], data["outcome"], data["exit_status"]) == ("status", "drift", 9)
    assert data["environment"] == "app"
    web1, web2 = data["hosts"]
    said_by_web1 = {
        "host": "web1",
        "set_up": True,
        "release": A,
        "link": f"releases/{A}",
        "sha": SHA,
        "ref": "main",
        "deployed_at": "2024-01-01T12:00:00Z",
        "deployed_by": "ann@laptop",
        "in_history": True,
        "lock": None,
        "lock_age": None,
        "free_kib": 5242880,
        "free_inodes": 900,
        "monitor": {
            "state": "running",
            "pid": None,
            "generation": 1,
            "release": A,
            "workers": 1,
            "ready": 1,
            "respawns": 0,
            "reloading": False,
            "last_reload": None,
            "last_reload_reason": None,
            "error": None,
        },
    }
    assert {key: web1[key] for key in said_by_web1} == said_by_web1
    assert (web2["release"], web2["sha"], web2["lock"], web2["monitor"]) == (None, None, "x", None)
    assert data["drift"] == [
        f"hosts on different releases: {A} on web1; nothing live on web2",
        "web2: locked by x",
    ]


def test_status_takes_its_own_json_flag_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = fleet(tmp_path, monkeypatch, {"web1": said(A)})
    result = run(base, "app", "status", "--json")
    assert (result.status, json.loads(result.stdout)["drift"]) == (0, [])


def test_a_host_that_cannot_be_reached_is_a_connection_error_not_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = fleet(tmp_path, monkeypatch, {"web1": said(A), "web2": None})
    result = run(base, "app", "status")
    assert result.status == 4
    assert "web2: cannot connect to web2" in result.error_lines[0]


def test_dry_run_prints_the_script_of_each_host_and_contacts_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = fleet(tmp_path, monkeypatch, {"web1": None, "web2": None})
    result = run(base, "--dry-run", "app", "status")
    assert result.status == 0
    assert result.stdout.count("# pushdeploy status\n") == 2
