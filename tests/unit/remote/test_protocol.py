"""The step-marker protocol: every line a script prints parses into exactly one Marker."""

from __future__ import annotations

import pytest

from pushdeploy.remote import protocol
from pushdeploy.remote.protocol import Marker, Outcome


def collect(status: int, lines: list[str]) -> Outcome:
    """What the client makes of a script's output: its lines fed in order, then its status."""
    outcome = Outcome(status)
    for line in lines:
        outcome.add(protocol.parse(line))
    return outcome


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("::pushdeploy::step fetch", Marker("step", "", "fetch")),
        ("::pushdeploy::step post-deploy", Marker("step", "", "post-deploy")),
        ("::pushdeploy::step", Marker("step", "", "")),
        ("::pushdeploy::value sha 3f2a", Marker("value", "sha", "3f2a")),
        ("::pushdeploy::value live ", Marker("value", "live", "")),
        ("::pushdeploy::value live", Marker("value", "live", "")),
        ("::pushdeploy::value lock me@laptop (pid 7)", Marker("value", "lock", "me@laptop (pid 7)")),
        ("::pushdeploy::warn the lock was stale", Marker("warn", "", "the lock was stale")),
        ("::pushdeploy::fail build 'build' exited with status 2", Marker("fail", "build", "'build' exited with status 2")),
        ("::pushdeploy::line deploys a\tb\tc", Marker("line", "deploys", "a\tb\tc")),
        ("::pushdeploy::line releases 20240102T030405Z-0123456", Marker("line", "releases", "20240102T030405Z-0123456")),
        ("::pushdeploy::done", Marker("done", "", "")),
        ("::pushdeploy::done trailing", Marker("done", "", "")),
        ("::pushdeploy::beat", Marker("beat", "", "")),
        ("::pushdeploy::bogus x", Marker("output", "", "::pushdeploy::bogus x")),
        ("::pushdeploy::stepx", Marker("output", "", "::pushdeploy::stepx")),
        ("::pushdeploy:: step x", Marker("output", "", "::pushdeploy:: step x")),
        ("::pushdeploy::", Marker("output", "", "::pushdeploy::")),
        (" ::pushdeploy::step x", Marker("output", "", " ::pushdeploy::step x")),
        ("npm WARN deprecated", Marker("output", "", "npm WARN deprecated")),
        ("", Marker("output", "", "")),
    ],
)  # fmt: skip
def test_parse(line: str, expected: Marker) -> None:
    assert expected == protocol.parse(line)


def test_a_beat_changes_nothing_in_what_a_script_said() -> None:
    lines = ["::pushdeploy::step build", "make: ok", "::pushdeploy::value sha 3f2a"]
    beats = [
        "::pushdeploy::beat",
        *lines[:1],
        "::pushdeploy::beat",
        *lines[1:],
        "::pushdeploy::beat",
    ]
    assert collect(0, lines) == collect(0, beats)


def test_collect_gathers_what_a_script_said() -> None:
    lines = [
        "::pushdeploy::step lock",
        "::pushdeploy::warn took over a stale lock",
        "::pushdeploy::value previous ",
        "::pushdeploy::step fetch",
        "remote: counting objects",
        "::pushdeploy::value sha 3f2a",
        "::pushdeploy::value sha 4e3b",
        "::pushdeploy::line deploys one",
        "::pushdeploy::line deploys two",
        "::pushdeploy::line releases r1",
        "::pushdeploy::done",
    ]
    expected = Outcome(
        status=0,
        values={"previous": "", "sha": "4e3b"},
        lines={"deploys": ["one", "two"], "releases": ["r1"]},
        steps=["lock", "fetch"],
        warnings=["took over a stale lock"],
        failed_step=None,
        failure=None,
        done=True,
        output=["remote: counting objects"],
        step_times=[0.0, 0.0],
    )
    assert expected == collect(0, lines)


def test_a_failure_records_the_step_and_why() -> None:
    outcome = collect(1, ["::pushdeploy::step build", "::pushdeploy::fail build it broke"])
    assert (outcome.failed_step, outcome.failure, outcome.done) == ("build", "it broke", False)


@pytest.mark.parametrize(
    ("status", "lines", "ok"),
    [
        (0, ["::pushdeploy::done"], True),
        (0, [], True),
        (0, ["::pushdeploy::fail build why"], False),
        (1, ["::pushdeploy::done"], False),
        (77, ["::pushdeploy::fail test why"], False),
    ],
)
def test_ok_means_status_zero_and_no_failed_step(status: int, lines: list[str], ok: bool) -> None:
    assert ok == collect(status, lines).ok


def test_add_one_marker_at_a_time() -> None:
    outcome = Outcome(0)
    outcome.add(Marker("value", "live", "r1"))
    outcome.add(Marker("output", "", "hello"))
    assert (outcome.values, outcome.output) == ({"live": "r1"}, ["hello"])


@pytest.mark.parametrize(
    ("count", "expected"), [(2, ["l18", "l19"]), (15, [f"l{i}" for i in range(5, 20)])]
)
def test_tail_is_the_last_lines_of_output(count: int, expected: list[str]) -> None:
    outcome = collect(1, [f"l{i}" for i in range(20)])
    assert expected == outcome.tail(count)


def test_tail_defaults_to_fifteen_lines() -> None:
    outcome = collect(1, [f"l{i}" for i in range(20)])
    assert outcome.tail() == [f"l{i}" for i in range(5, 20)]


def test_the_contract_is_emitted_as_shell_assignments_of_every_name() -> None:
    """Each name the scripts use comes from protocol.CONTRACT, quoted for bash."""
    lines = protocol.contract().splitlines()
    assert [line.split("=", 1)[0] for line in lines] == list(protocol.CONTRACT)
    assert "RELEASE_ID_RE='^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{7}(\\.[0-9]+)?$'" in lines
    assert f"EXIT_LOCK_HELD={protocol.EXIT_LOCK_HELD}" in lines


def test_the_bash_side_writes_none_of_the_contract_by_hand() -> None:
    """prelude.sh and the generated bodies name exit statuses and lock files only by their names."""
    from pathlib import Path

    from pushdeploy.remote import scripts, service

    bash = scripts.PRELUDE + "".join(
        Path(module.__file__).read_text(encoding="utf-8") for module in (scripts, service)
    )
    statuses = {v for k, v in protocol.CONTRACT.items() if k.startswith(("EXIT_", "MONITOR_"))}
    for status in statuses:
        for written in (f"exit {status}", f'" {status}', f"= {status} ]"):
            assert written not in bash, written
    for name in ("owner", "token", "building", "switching", "client-gone"):
        assert f'$L/{name}"' not in bash and f"$L/{name} " not in bash, name


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("::pushdeploy::out npm WARN x", Marker("output", "", "npm WARN x")),
        ("::pushdeploy::out ::pushdeploy::fail build spoofed", Marker("output", "", "::pushdeploy::fail build spoofed")),
        ("::pushdeploy::out ", Marker("output", "", "")),
    ],
)  # fmt: skip
def test_hook_output_travels_as_out_markers_and_can_never_pass_for_a_marker(
    line: str, expected: Marker
) -> None:
    assert protocol.parse(line) == expected
