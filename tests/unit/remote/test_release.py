"""Which refs may be deployed, and the release ID made of UTC time and short SHA."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pushdeploy.errors import Refused
from pushdeploy.remote import release

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


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "20240102T030405Z-0123456"),
        (datetime(2024, 1, 2, 3, 4, 5, 999999, tzinfo=UTC), "20240102T030405Z-0123456"),
        (datetime(2024, 1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=2))), "20231231T230000Z-0123456"),
        (datetime(2024, 7, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=-5))), "20240701T170000Z-0123456"),
    ],
)  # fmt: skip
def test_release_id_is_utc_time_and_short_sha(when: datetime, expected: str) -> None:
    assert expected == release.release_id(when, SHA)


def test_release_ids_sort_in_time_order() -> None:
    """prune keeps the newest by sorting names, so the names must sort like their times."""
    start = datetime(2024, 12, 31, 23, 59, 58, tzinfo=UTC)
    times = [start + timedelta(seconds=s) for s in (0, 1, 2, 3600, 86400 * 40)]
    ids = [
        release.release_id(t, sha) for t, sha in zip(times, ["f" * 40, "0" * 40] * 3, strict=False)
    ]
    assert ids == sorted(ids)


def test_a_fresh_release_id_is_a_utc_stamp_and_a_short_sha() -> None:
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{7}", release.release_id(release.now(), SHA))
