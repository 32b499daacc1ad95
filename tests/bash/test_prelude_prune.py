"""Prune in prelude.sh: the newest releases kept, the live and previous always, nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.bashlib import BashHost, release_id


def tree(top: Path, *skip: Path) -> dict[str, str]:
    """Every path under ``top`` but in ``skip``: a file's text, a link's target, or "/"."""
    found = {}
    for folder, dirs, files in os.walk(top):
        here = Path(folder)
        if here in skip:
            dirs[:] = []
            continue
        for name in dirs + files:
            path = here / name
            key = str(path.relative_to(top))
            if path.is_symlink():
                found[key] = f"-> {os.readlink(path)}"
            elif path.is_file():
                found[key] = path.read_text(encoding="utf-8", errors="replace")
            else:
                found[key] = "/"
    return found


def prune(host: BashHost, live: int, previous: int | None, keep: int) -> list[str]:
    """Run prune with release ``live`` and ``previous``; the releases left, by number."""
    prev = release_id(previous) if previous else ""
    result = host.run(f"prune {release_id(live)} '{prev}'", keep=str(keep))
    assert (result.status, result.outcome.steps, result.outcome.warnings) == (0, ["prune"], [])
    left = {name: n for n in range(1, 60) if (name := release_id(n)) in os.listdir(host.releases)}
    return [f"r{n}" for n in left.values()]


@pytest.mark.parametrize(
    ("live", "previous", "keep", "expected"),
    [
        (5, 4, 2, ["r4", "r5"]),
        (5, 4, 3, ["r3", "r4", "r5"]),
        (1, 2, 2, ["r1", "r2", "r4", "r5"]),  # gone back to r1: the live and previous stay
        (5, None, 1, ["r5"]),
        (3, None, 1, ["r3", "r5"]),
    ],
)
def test_prune_keeps_the_newest_releases_and_never_the_live_or_previous_one(
    host: BashHost, live: int, previous: int | None, keep: int, expected: list[str]
) -> None:
    for n in range(1, 6):
        host.release(n)
    host.record(1, 2, 3, 4, 5)
    assert expected == prune(host, live, previous, keep)


def test_the_order_is_the_last_use_in_the_history_and_a_release_it_lacks_is_oldest(
    host: BashHost,
) -> None:
    for n in (1, 2, 3, 9):
        host.release(n)
    host.record(1, 2, 3)
    host.record(1, action="revert")  # r1 was used last; r9 is in no line of the history
    assert prune(host, 1, 3, 2) == ["r1", "r3"]


def test_prune_removes_the_logs_of_the_releases_it_removes_and_only_those(host: BashHost) -> None:
    for n in (1, 2, 3):
        host.release(n)
    host.record(1, 2, 3)
    host.run_logs.mkdir(parents=True)
    for name in (*(release_id(n) for n in (1, 2, 3, 7)), "notes"):
        (host.run_logs / f"{name}.log").write_text("a log\n", encoding="utf-8")
    prune(host, 3, 2, 1)
    assert sorted([f"{release_id(2)}.log", f"{release_id(3)}.log", "notes.log"]) == sorted(
        os.listdir(host.run_logs)
    )


def test_prune_touches_nothing_outside_releases_whatever_the_names_it_meets(
    host: BashHost,
) -> None:
    """Hostile entries in releases/ and in .deploys: links and files named like releases,
    names with spaces, globs, dashes and newlines, paths leading out. Only real release
    directories go; everything else stays as it was, inside releases/ and outside."""
    outside = host.base / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious\n", encoding="utf-8")
    (host.root / "shared").mkdir()
    (host.root / "shared" / "data").write_text("shared\n", encoding="utf-8")
    for n in range(1, 4):
        host.release(n)
    host.record(1, 2, 3)
    hostile = {
        release_id(40): "link to outside",
        release_id(41): "file",
        release_id(42): "link to a release",
        "-rf": "dir",
        "* ?": "dir",
        f"{release_id(43)}\n{release_id(1)}": "dir",
        f"{release_id(44)} x": "dir",
        "shared": "link to shared",
        "not-a-release": "dir",
    }
    for name, kind in hostile.items():
        path = host.releases / name
        if kind == "dir":
            path.mkdir()
        elif kind == "file":
            path.write_text("a file\n", encoding="utf-8")
        else:
            path.symlink_to(
                {"link to outside": outside, "link to a release": release_id(2)}.get(
                    kind, "../shared"
                )
            )
    with host.deploys.open("a", encoding="utf-8") as deploys:
        for name in ("../../outside", "..", "/etc", "*", f"{release_id(1)}/../../outside", "-rf"):
            deploys.write(f"{'a' * 40}\t2025-01-01T12:00:00Z\t{name}\tmain\tx@y\tdeploy\tok\n")
    before = tree(host.base, host.releases, host.work)
    kept_inside = sorted(set(os.listdir(host.releases)) - {release_id(1), release_id(2)})

    prune(host, 3, None, 1)

    assert before == tree(host.base, host.releases, host.work)
    assert kept_inside == sorted(os.listdir(host.releases))
    assert (outside / "keep.txt").read_text(encoding="utf-8") == "precious\n"
