"""The full-disk path of prelude.sh: a failed write on a disk ``df`` calls full is named so."""

from __future__ import annotations

import os

import pytest

from pushdeploy.remote import protocol
from tests.support.bashlib import BashHost, release_id, sha

ROOMY = 5_000_000  # KiB, or inodes


def stub_df(host: BashHost, kib_free: int, inodes_free: int) -> None:
    """A ``df`` first on PATH that answers ``-Pk`` and ``-Pi`` (as disk_stats asks) as told."""
    host.stub(
        "df",
        "case $1 in\n"
        f'  -Pk) echo "Filesystem 1024-blocks Used Available Capacity Mounted on";'
        f' echo "/dev/stub {ROOMY} {ROOMY - kib_free} {kib_free} 99% /" ;;\n'
        f'  -Pi) echo "Filesystem Inodes IUsed IFree IUse% Mounted on";'
        f' echo "/dev/stub {ROOMY} {ROOMY - inodes_free} {inodes_free} 99% /" ;;\n'
        "  *) exit 1 ;;\n"
        "esac\n",
    )


def failed_switch(host: BashHost) -> tuple[int, tuple[str | None, str | None]]:
    """Switch from release 1 to 2 while .deploys cannot be appended to (it is a directory)."""
    host.release(1, live=True)
    host.release(2)
    host.deploys.mkdir()
    result = host.run(
        f'lock_take 0 120\nread_live\nID={release_id(2)} SHA={sha(2)} REF=main\nswitch "$ID" deploy'
    )
    assert (f"releases/{release_id(1)}", False) == (host.link(host.current), host.lock.exists())
    return result.status, result.failure


@pytest.mark.parametrize(
    ("kib_free", "inodes_free", "note"),
    [
        (12, ROOMY, "12 KiB free"),
        (1023, ROOMY, "1023 KiB free"),
        (ROOMY, 0, f"{ROOMY} KiB free"),  # no inode left
    ],
)
def test_a_failed_write_on_a_full_disk_names_the_full_disk(
    host: BashHost, kib_free: int, inodes_free: int, note: str
) -> None:
    stub_df(host, kib_free, inodes_free)
    why = f"cannot append to {host.deploys}: the disk holding {host.root} is full ({note})"
    assert (protocol.EXIT_DISK_FULL, ("switch", why)) == failed_switch(host)


@pytest.mark.parametrize(("kib_free", "inodes_free"), [(1024, ROOMY), (ROOMY, 1)])
def test_a_failed_write_with_room_left_is_a_plain_failure(
    host: BashHost, kib_free: int, inodes_free: int
) -> None:
    stub_df(host, kib_free, inodes_free)
    assert (1, ("switch", f"cannot append to {host.deploys}")) == failed_switch(host)


def test_without_an_answer_from_df_a_failure_stays_plain(host: BashHost) -> None:
    host.stub("df", "exit 1\n")
    assert (1, ("switch", f"cannot append to {host.deploys}")) == failed_switch(host)


def test_a_lock_that_cannot_be_written_on_a_full_disk_says_so(host: BashHost) -> None:
    stub_df(host, 0, ROOMY)
    host.state.write_text("a file where the state directory goes\n", encoding="utf-8")
    result = host.run("lock_take 0 120")
    why = f"cannot create {host.state} (check its owner and permissions)"
    assert (
        protocol.EXIT_DISK_FULL,
        ("lock", f"{why}: the disk holding {host.root} is full (0 KiB free)"),
    ) == (
        result.status,
        result.failure,
    )


def test_a_held_lock_is_still_a_held_lock_on_a_full_disk(host: BashHost) -> None:
    """Only a failure (status 1, or a switch back) is turned into a full disk's."""
    stub_df(host, 0, 0)
    host.hold_lock("their-token", "alice@desk", age=0)
    result = host.run("lock_take 0 120")
    assert (
        result.status,
        result.failure,
    ) == (protocol.EXIT_LOCK_HELD, ("lock", "locked by alice@desk"))
    assert os.listdir(host.state) == ["lock"]


def test_a_switch_that_cannot_finish_its_history_line_leaves_the_history_as_it_was(
    host: BashHost,
) -> None:
    """A write the disk cuts short (here a file-size limit of 1 KiB cuts it, as ENOSPC cuts
    one in a last, part-filled block) must leave no half line: the next line would be glued
    to it, and the history would not know what is live."""
    stub_df(host, 12, ROOMY)
    host.release(1, live=True)
    host.record(*[1] * 8)  # 928 bytes: the line of release 2 fits only in part
    host.release(2)
    history = host.deploys.read_text(encoding="utf-8")
    result = host.run(
        "lock_take 0 120\nread_live\ntrap '' XFSZ; ulimit -f 1\n"
        f'ID={release_id(2)} SHA={sha(2)} REF=main\nswitch "$ID" deploy'
    )
    assert (protocol.EXIT_DISK_FULL, f"releases/{release_id(1)}") == (
        result.status,
        host.link(host.current),
    )
    assert history == host.deploys.read_text(encoding="utf-8")


def test_a_history_line_left_without_its_end_is_cut_off_before_the_next_is_written(
    host: BashHost,
) -> None:
    """A writer killed mid-line (or a disk filled before this fix) left a line with no end:
    the next line starts on a line of its own, and the part is gone."""
    host.release(1, live=True)
    host.record(1)
    whole = host.deploys.read_text(encoding="utf-8")
    with host.deploys.open("a", encoding="utf-8") as deploys:
        deploys.write(f"{sha(2)}\t2026-12-07T00:00:00Z\t{release_id(2)}\tma")  # cut short
    host.release(2)
    result = host.run(
        f'lock_take 0 120\nread_live\nID={release_id(2)} SHA={sha(2)} REF=main\nswitch "$ID" deploy'
    )
    lines = host.deploys.read_text(encoding="utf-8").splitlines()
    assert (0, whole.splitlines()) == (result.status, lines[:-1])
    assert [release_id(2), "main", "deploy", "ok"] == [
        lines[-1].split("\t")[i] for i in (2, 3, 5, 6)
    ]


def test_a_full_releases_directory_on_a_filesystem_of_its_own_is_named(host: BashHost) -> None:
    """Only releases/ is full (its own mount): the failure names it, not ``path``'s roomy disk."""
    host.releases.mkdir(parents=True)
    host.stub(
        "df",
        "case $3 in */releases) free=12 ;; *) free=5000000 ;; esac\n"
        "case $1 in\n"
        '  -Pk) echo "Filesystem 1024-blocks Used Available Capacity Mounted on";'
        ' echo "/dev/stub 5000000 1 $free 99% /" ;;\n'
        '  -Pi) echo "Filesystem Inodes IUsed IFree IUse% Mounted on";'
        ' echo "/dev/stub 5000000 1 5000000 1% /" ;;\n'
        "esac\n",
    )
    result = host.run('fail release "git archive failed"')
    why = f"git archive failed: the disk holding {host.releases} is full (12 KiB free)"
    assert (protocol.EXIT_DISK_FULL, ("release", why)) == (result.status, result.failure)
