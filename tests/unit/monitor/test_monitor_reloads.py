"""Reload records for the status file, and telling a new touch of the restart file."""

from __future__ import annotations

import os
from pathlib import Path

from pushdeploy.monitor.reloads import KEEP, Reloads, RestartFile


def test_a_reload_is_pending_until_it_finishes_and_then_kept() -> None:
    reloads = Reloads()
    record = reloads.begin("restart-file", ["r1"], "/srv/app/releases/B")
    assert (record["seq"], record["result"], record["finished"]) == (1, "pending", None)
    assert reloads.as_status()["last_reload"] is None  # nothing finished yet

    reloads.finish(False, "worker 12 exited with status 1 before it was ready")
    status = reloads.as_status()
    assert status["reload"]["result"] == "failed"
    assert status["last_reload"] == status["reload"]
    assert status["reload"]["requests"] == ["r1"]
    assert status["reload"]["finished"] >= status["reload"]["started"]


def test_only_the_last_finished_reloads_are_kept() -> None:
    reloads = Reloads()
    for _ in range(KEEP + 3):
        reloads.begin("sighup", [], "/r")
        reloads.finish(True, "")
    seqs = [r["seq"] for r in reloads.as_status()["reloads"]]
    assert seqs == list(range(4, KEEP + 4))


def test_a_monitor_that_cannot_listen_records_a_failed_start() -> None:
    reloads = Reloads()
    reloads.failed_to_listen("cannot listen on 127.0.0.1:80: Permission denied")
    assert reloads.as_status()["reload"] == {
        "seq": 0,
        "trigger": "start",
        "result": "failed",
        "reason": "cannot listen on 127.0.0.1:80: Permission denied",
    }


def touch(path: Path, ns: int) -> None:
    path.touch()
    os.utime(path, ns=(ns, ns))


def test_a_touch_is_seen_once(tmp_path: Path) -> None:
    restart = tmp_path / "restart.txt"
    watcher = RestartFile(str(restart))
    assert not watcher.touched()  # absent: nothing to do
    touch(restart, 1_000_000_000)
    assert watcher.touched()
    assert not watcher.touched()
    touch(restart, 2_000_000_000)
    assert watcher.touched()


def test_a_touch_seen_when_a_reload_starts_is_served_by_it(tmp_path: Path) -> None:
    restart = tmp_path / "restart.txt"
    watcher = RestartFile(str(restart))
    touch(restart, 1_000_000_000)
    watcher.served()  # a reload (say by SIGHUP) started after this touch
    assert not watcher.touched()


def test_a_switch_to_a_release_with_another_file_counts_as_a_touch(tmp_path: Path) -> None:
    for release in ("A", "B"):
        (tmp_path / release).mkdir()
        touch(tmp_path / release / "restart.txt", 1_000_000_000)  # same mtime, other inode
    (tmp_path / "current").symlink_to("A")
    watcher = RestartFile(str(tmp_path / "current" / "restart.txt"))
    assert watcher.touched()
    (tmp_path / "next").symlink_to("B")
    os.replace(tmp_path / "next", tmp_path / "current")
    assert watcher.touched()
