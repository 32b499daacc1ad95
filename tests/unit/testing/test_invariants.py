"""The promises (pushdeploy/testing/invariants.py): each one broken is found, and README lists them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushdeploy.testing import invariants
from pushdeploy.testing.invariants import HostState, violations

OLD = "20261129T000000Z-1111111"
NEW = "20261130T074102Z-3f2a9c1"
SHA = "3f2a9c1" + "0" * 33


def line(release: str, action: str = "deploy", outcome: str = "ok") -> str:
    return f"{SHA}\t2026-11-30T07:41:02Z\t{release}\tmain\tme@laptop\t{action}\t{outcome}\n"


def state(live: str = NEW, deploys: str = line(OLD) + line(NEW), **changes: object) -> HostState:
    fields: dict[str, object] = {
        "live": live,
        "releases": {OLD: True, NEW: True},
        "deploys": deploys,
        "locked": False,
    }
    return HostState(**(fields | changes))  # type: ignore[arg-type]


def broken(before: dict[str, str], after: dict[str, HostState], status: int) -> set[str]:
    return {v.promise for v in violations(before, after, status)}


@pytest.mark.parametrize(
    ("after", "promise"),
    [
        (state(deploys=line(OLD)), "live-is-good"),
        (state(releases={OLD: True}), "live-is-good"),
        (state(deploys=line(OLD) + line(NEW, outcome="bad") + line(NEW, "revert")), "never-bad"),
        (state(deploys=line(OLD) + line(NEW) + SHA[:12]), "history-whole"),
        (state(deploys=line(OLD) + "not a line\t\n" + line(NEW)), "history-whole"),
        (
            state(releases={OLD: True, NEW: True, "20261130T080000Z-aaaaaaa": False}),
            "no-half-built",
        ),
        (state(locked=True), "no-lock"),
        (state(leftovers=("pid 7: sleep 60",)), "no-leftovers"),
    ],
)
def test_each_broken_promise_of_a_host_is_found(after: HostState, promise: str) -> None:
    assert broken({"web1": OLD}, {"web1": after}, 0) == {promise}


def test_a_host_that_keeps_every_promise_breaks_none() -> None:
    assert violations({"web1": OLD}, {"web1": state()}, 0) == []


@pytest.mark.parametrize(
    ("lives", "status", "promises"),
    [
        ({"web1": NEW, "web2": NEW}, 0, set()),
        ({"web1": NEW, "web2": OLD}, 0, {"one-release"}),
        ({"web1": OLD, "web2": OLD}, 7, set()),
        ({"web1": NEW, "web2": OLD}, 7, {"exit-tells"}),
        ({"web1": NEW, "web2": OLD}, 6, {"exit-tells"}),
        ({"web1": NEW, "web2": NEW}, 4, {"exit-tells"}),
        ({"web1": NEW, "web2": OLD}, 10, set()),
        ({"web1": OLD, "web2": OLD}, 1, {"exit-tells"}),
    ],
)
def test_the_exit_status_must_tell_where_a_fleet_was_left(
    lives: dict[str, str], status: int, promises: set[str]
) -> None:
    history = line(OLD) + line(NEW)
    after = {name: state(live=live, deploys=history + line(live)) for name, live in lives.items()}
    assert broken({"web1": OLD, "web2": OLD}, after, status) == promises


def test_a_lone_host_that_lost_its_connection_after_the_switch_may_have_gone_live() -> None:
    assert violations({"web1": OLD}, {"web1": state()}, 4) == []


def test_readme_lists_the_promises_as_the_code_does() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    assert invariants.readme_section() in readme
