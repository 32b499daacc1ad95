"""Which refs may be deployed, and the release ID: the run's UTC stamp and the short SHA, in bash."""

from __future__ import annotations

import re
import shlex
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pushdeploy.errors import Refused
from pushdeploy.remote import protocol, release

SPECIAL = "it contains a space, a control or a shell/git special character"
SEQUENCE = "it contains '..', '@{' or '//'"
FORM = "git does not allow that form"
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    "ref",
    [
        "main",
        "v1.2.3",
        "release/2024-01",
        "feature/x_y",
        "origin/main",
        "HEAD",
        "user@feature",
        "v1.0+build.5",
        SHA,
        "abc1234",
    ],
)
def test_check_ref_accepts_plain_names(ref: str) -> None:
    assert release.check_ref(ref) == ref


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        ("", "it is empty"),
        ("-x", "it starts with '-'"),
        ("--upload-pack=evil", "it starts with '-'"),
        ("$(rm -rf ~)", SPECIAL),
        ("`id`", SPECIAL),
        ("a b", SPECIAL),
        ("a;b", SPECIAL),
        ("a&b", SPECIAL),
        ("a|b", SPECIAL),
        ("a>b", SPECIAL),
        ("a'b", SPECIAL),
        ('a"b', SPECIAL),
        ("a\\b", SPECIAL),
        ("x~1", SPECIAL),
        ("x^", SPECIAL),
        ("x^{tree}", SPECIAL),
        ("a:b", SPECIAL),
        ("a?", SPECIAL),
        ("a*", SPECIAL),
        ("a[1]", SPECIAL),
        ("a!b", SPECIAL),
        ("@{1}", SPECIAL),
        ("main\n", SPECIAL),
        ("a\tb", SPECIAL),
        ("a\x00b", SPECIAL),
        ("a\x7fb", SPECIAL),
        ("a..b", SEQUENCE),
        ("a//b", SEQUENCE),
        ("main@{", SPECIAL),
        ("a.lock", FORM),
        ("a/", FORM),
        ("a.", FORM),
        ("/a", FORM),
        ("a/.b", FORM),
        ("@", FORM),
    ],
)
def test_check_ref_refuses(ref: str, problem: str) -> None:
    with pytest.raises(Refused) as info:
        release.check_ref(ref)
    expected = (
        f"not a valid ref: {ref!r} ({problem})",
        "give a branch, tag or commit SHA as git names it",
        8,
    )
    assert expected == (info.value.message, info.value.hint, info.value.status)


@pytest.mark.parametrize("ref", [".hidden", "a.lock/b"])
def test_check_ref_refuses_what_git_check_ref_format_refuses(ref: str) -> None:
    with pytest.raises(Refused):
        release.check_ref(ref)


def made_ids(run_stamp: str, shas: list[str], root: Path) -> list[str]:
    """The IDs the real bash (release.sh, called as ``release.new_id`` calls it) makes for
    ``shas``, one after another in one releases directory, each made as a deploy makes its
    release."""
    releases = root / "releases"
    releases.mkdir(exist_ok=True)
    lines = [release.LIBRARY, f"RELEASES={shlex.quote(str(releases))}"]
    for sha in shas:
        lines += [
            f"SHA={sha}",
            *release.new_id(run_stamp),
            'mkdir -- "$RELEASES/$ID"',
            'echo "$ID"',
        ]
    done = subprocess.run(
        ["bash", "-c", "\n".join(lines)], capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.split()


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "20240102T030405Z"),
        (datetime(2024, 1, 2, 3, 4, 5, 999999, tzinfo=UTC), "20240102T030405Z"),
        (datetime(2024, 1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=2))), "20231231T230000Z"),
        (datetime(2024, 7, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=-5))), "20240701T170000Z"),
    ],
)  # fmt: skip
def test_a_runs_stamp_is_its_utc_time(when: datetime, expected: str) -> None:
    assert expected == release.stamp(when)


def test_a_release_id_is_the_runs_stamp_and_the_short_sha(tmp_path: Path) -> None:
    expected = ["20240102T030405Z-0123456"]
    assert expected == made_ids("20240102T030405Z", [SHA], tmp_path)


def test_a_second_release_of_one_sha_in_one_run_second_gets_a_number(tmp_path: Path) -> None:
    made = made_ids("20240102T030405Z", [SHA, SHA, "f" * 40, SHA], tmp_path)
    expected = ["-0123456", "-0123456.2", "-fffffff", "-0123456.3"]
    assert ["20240102T030405Z" + tail for tail in expected] == made


def test_release_ids_sort_in_time_order(tmp_path: Path) -> None:
    """prune keeps the newest by sorting names, so the names must sort like their times."""
    start = datetime(2024, 12, 31, 23, 59, 58, tzinfo=UTC)
    times = [start + timedelta(seconds=s) for s in (0, 1, 2, 3600, 86400 * 40)]
    ids = [
        made_ids(release.stamp(t), [sha], tmp_path)[0]
        for t, sha in zip(times, ["f" * 40, "0" * 40] * 3, strict=False)
    ]
    assert ids == sorted(ids)


def test_a_fresh_release_id_is_one_the_scripts_and_the_client_accept(tmp_path: Path) -> None:
    made = made_ids(release.stamp(release.now()), [SHA, SHA], tmp_path)
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{7}", made[0])
    for good in made:
        assert re.fullmatch(protocol.RELEASE_ID_PATTERN, good), good
    for bad in ("../../etc", made[0] + "/x", "-rf", made[0][:-1], "/" + made[0]):
        assert not re.fullmatch(protocol.RELEASE_ID_PATTERN, bad), bad
