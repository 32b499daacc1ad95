"""exec and console through ``cli.main`` in-process against pushdeploy.testing.fake, then the commands that
only read: status, doctor, current, previous and list (and update, which reads nothing).

exec's command line, the console's preparation and the monitor's commands are no wrapped
scripts: a fake answers them as kind ``command``, printing its ``replies`` as they are and
ending with ``exits["command"]``. Each case checks stdout, the error line, the exit status and
what the fakes were given (``ran``, ``scripts``, ``received``: the input piped to them).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pushdeploy.cli.handlers import UPGRADE
from pushdeploy.testing.fakehost import FakeHost
from tests.support import fakefleet
from tests.support.fakefleet import OLD, OLDER, fleet, ran, run

READY = [
    "value path /usr/bin:/bin",
    "value bash 5.2",
    "value git git version 2.43",
    "value repo yes",
]
DOCTOR = [*READY, "value disk 10485760", "value setup yes", f"value live {OLD}"]


def host(name: str, **state: object) -> FakeHost:
    """A server live on OLD, with OLDER deployed before it, both by ann at a real time."""
    return fakefleet.host(name, time="2026-11-29T00:00:00Z", who="ann", **state)


def said(*lines: str, status: int = 0, errors: tuple[str, ...] = ()) -> dict[str, object]:
    """A fake host's answer to exec: ``lines`` on stdout, ``errors`` on stderr, ``status``."""
    return {
        "replies": {"command": list(lines)},
        "stderr": {"command": list(errors)},
        "exits": {"command": status},
    }


# -- exec -----------------------------------------------------------------------------------------


def test_exec_on_one_host_passes_its_output_through_as_it_is(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, host("web1", **said("total 0", errors=("a warning",))))
    result = run(base, "app", "exec", "ls", "-l")
    assert (result.status, result.stdout, result.stderr) == (0, "total 0\n", "a warning\n")
    assert ran(fake) == {"web1": ["command"]}
    call = "\nexec_in_current /srv/app/current /srv/app/shared app 'ls -l'\n"
    assert call in fake.hosts["web1"].scripts[0]


def test_exec_on_several_hosts_prefixes_each_line_and_says_each_status(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1", **said("up")), host("web2", **said("up")))
    result = run(base, "app", "run", "uptime")
    assert (result.status, result.stdout, result.stderr) == (
        0,
        "web1: up\nweb2: up\n",
        "web1: ok\nweb2: ok\n",
    )


def test_exec_runs_on_every_host_and_exits_with_the_first_failing_hosts_status(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(
        base,
        monkeypatch,
        host("web1", **said(status=3)),
        host("web2", **said("fine")),
        host("web3", **said("bad", status=5)),
    )
    result = run(base, "app", "exec", "check")
    assert (result.status, result.error_lines) == (
        3,
        ["pushdeploy: error: check failed on 2 of 3 hosts: web1 (status 3), web3 (status 5)"],
    )
    assert "web1: exit status 3\nweb2: ok\nweb3: exit status 5\n" in result.stderr
    assert ran(fake) == {name: ["command"] for name in fake.hosts}
    assert "hint: its own output, above, says why" in result.stderr  # web3 printed


def test_exec_on_one_host_failing_silently_says_it_printed_nothing(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1", **said(status=2)))
    result = run(base, "app", "exec", "false")
    assert (result.status, result.error_lines) == (
        2,
        ["pushdeploy: error: web1: false exited with status 2"],
    )
    assert "hint: it printed nothing; its exit status is passed on as pushdeploy's" in result.stderr


def test_exec_json_keeps_each_hosts_stdout_and_stderr_and_prints_them_nowhere_else(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(
        base,
        monkeypatch,
        host("web1", **said("out", errors=("err",))),
        host("web2", **said("x", status=4)),
    )
    result = run(base, "--json", "app", "exec", "ls")
    data = json.loads(result.stdout)
    assert (result.status, data["command"], data["exit_status"]) == (4, "exec", 4)
    assert [(h["host"], h["status"], h["stdout"], h["stderr"]) for h in data["hosts"]] == [
        ("web1", 0, ["out"], ["err"]),
        ("web2", 4, ["x"], []),
    ]
    assert data["error"] == "ls failed on 1 of 2 hosts: web2 (status 4)"
    assert "web1: ok" not in result.stderr


def test_exec_json_on_success_is_one_object_too(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1", **said("out")))
    data = json.loads(run(base, "--json", "app", "exec", "ls").stdout)
    assert (data["outcome"], data["hosts"][0]["output"], data["error"]) == ("ok", ["out"], None)


def test_exec_json_gives_every_host_its_stdout_and_stderr_even_when_empty(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1", **said("out")), host("web2"))
    data = json.loads(run(base, "--json", "app", "exec", "true").stdout)
    assert [(h.get("stdout"), h.get("stderr")) for h in data["hosts"]] == [(["out"], []), ([], [])]


def test_exec_sends_piped_input_to_every_host(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fleet(base, monkeypatch, host("web1"), host("web2"))
    assert run(base, "app", "exec", "cat", stdin=b"rows\n").status == 0
    assert [h.received for h in fake.hosts.values()] == [[b"rows\n"], [b"rows\n"]]


def test_exec_goes_on_past_a_host_whose_connection_drops_and_exits_4(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(
        base, monkeypatch, host("web1", drop_at={"command": "run"}), host("web2", **said("ok"))
    )
    result = run(base, "app", "exec", "ls")
    assert (result.status, result.stdout) == (4, "web2: ok\n")
    assert "pushdeploy: warning: web1: the connection was lost (fake)" in result.stderr
    assert fake.hosts["web2"].ran == ["command"]


def test_exec_without_a_command_is_a_usage_error(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, host("web1"))
    result = run(base, "app", "exec")
    assert (result.status, ran(fake)) == (2, {"web1": []})
    assert result.error_lines[0].startswith("pushdeploy: error: exec: give the command to run")


# -- console --------------------------------------------------------------------------------------


def test_console_prepares_its_file_then_opens_a_shell_that_sources_it(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, host("web1"), host("web2"))
    result = run(base, "-H", "web2", "app", "console")
    assert (result.status, ran(fake)) == (0, {"web1": [], "web2": ["command", "interactive"]})
    prepare, shell = fake.hosts["web2"].scripts
    path = shell.split()[1]
    assert (path.startswith("/srv/app/.pushdeploy/console-"), path in prepare) == (True, True)


def test_console_on_several_hosts_asks_for_one(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fleet(base, monkeypatch, host("web1"), host("web2"))
    result = run(base, "app", "console")
    assert (result.status, result.error_lines) == (
        2,
        ["pushdeploy: error: console opens one shell: pick a host with -H HOST"],
    )
    assert ran(fake) == {"web1": [], "web2": []}


def test_console_that_cannot_be_prepared_says_why_and_opens_no_shell(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    why = "pushdeploy: no current release; deploy first"
    fake = fleet(base, monkeypatch, host("web1", exits={"command": 127}, stderr={"command": [why]}))
    result = run(base, "app", "console")
    assert (result.status, result.error_lines) == (
        127,
        [f"pushdeploy: error: web1: cannot open the console: {why}"],
    )
    assert ran(fake) == {"web1": ["command"]}


def test_the_console_shells_exit_status_is_passed_on(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1", exits={"interactive": 5}))
    result = run(base, "app", "console")
    assert (result.status, result.error_lines) == (
        5,
        ["pushdeploy: error: the console shell exited with status 5"],
    )


def test_update_says_how_to_upgrade(base: Path) -> None:
    result = run(base, "update")
    assert (result.status, result.stdout) == (0, UPGRADE + "\n")


def test_doctor_says_a_deploy_can_go_ahead(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet(base, monkeypatch, host("web1", replies={"script": DOCTOR}))
    result = run(base, "doctor", "app")
    assert (result.status, result.stdout.splitlines()[-1]) == (0, "ready to deploy [app] to web1")
    assert "web1: repo /r answers from the server" in result.stdout.splitlines()


def test_doctor_on_a_host_not_set_up_is_exit_6(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet(base, monkeypatch, host("web1", replies={"script": READY}))
    result = run(base, "app", "doctor")
    assert (result.status, result.error_lines) == (
        6,
        [
            "pushdeploy: error: doctor: web1: not set up yet; everything else a deploy needs is there"
        ],
    )


def test_doctors_hint_repeats_the_command_line_typed(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1", replies={"script": READY}))
    result = run(base, "app", "doctor")
    assert f"hint: run 'pushdeploy -C {base} app setup', then deploy" in result.stderr


# -- the reading commands -------------------------------------------------------------------------


def test_status_of_hosts_on_one_release_is_exit_0(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, host("web1"), host("web2"))
    result = run(base, "app", "status")
    assert (result.status, result.error_lines) == (0, [])
    assert [row.split()[:4] for row in result.stdout.splitlines()[1:]] == [
        ["web1", OLD, "1111111", "-"],
        ["web2", OLD, "1111111", "-"],
    ]
    assert ran(fake) == {"web1": ["status"], "web2": ["status"]}


def test_status_flags_a_lock_left_behind_as_drift(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1"), host("web2", lock="ann (pid 7)"))
    result = run(base, "app", "status")
    assert (result.status, result.error_lines) == (
        9,
        ["pushdeploy: error: drift: web2: locked by ann (pid 7)"],
    )


def test_current_previous_and_list_read_each_host(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1"), FakeHost("web2"))
    assert run(base, "app", "current").stdout == (
        f"web1: {OLD} 1111111 (main) deployed 2026-11-29T00:00:00Z by ann\nweb2: nothing deployed\n"
    )
    fleet(base, monkeypatch, host("web1"))
    assert run(base, "app", "prev").stdout.split()[:2] == [OLDER, "1111111"]
    listing = json.loads(run(base, "--json", "app", "list").stdout)
    assert [(r["release"], r["live"], r["revert"]) for r in listing["web1"]] == [
        (OLDER, False, 1),
        (OLD, True, None),
    ]
