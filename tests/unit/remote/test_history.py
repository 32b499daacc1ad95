"""The .deploys history: parsing its lines, and which release ``revert`` goes back to."""

from __future__ import annotations

import pytest

from pushdeploy.errors import Refused
from pushdeploy.remote import history
from pushdeploy.remote.history import Entry

SHA = "3f2a" + "0" * 36
RID = "20240102T030405Z-3f2a000"


def rid(n: int) -> str:
    return f"2024010{n}T120000Z-{n}abcdef"


def line(n: int, action: str = "deploy", outcome: str = "ok") -> str:
    """The .deploys line prelude.sh's ``log`` writes for release ``n``."""
    return "\t".join(
        [f"{n}" * 40, f"2024-01-0{n}T12:00:00Z", rid(n), "main", "me@laptop", action, outcome]
    )


def entries(*lines: str) -> list[Entry]:
    return history.parse(lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"{SHA}\t2024-01-02T03:04:05Z\t20240102T030405Z-3f2a000\tv1.0\tme@laptop\tdeploy\tok\n",
            Entry(SHA, "2024-01-02T03:04:05Z", "20240102T030405Z-3f2a000", "v1.0", "me@laptop", "deploy", "ok"),
        ),
        (
            f"{SHA}\t2024-01-02T03:04:05Z\t20240102T030405Z-3f2a000\t-\tme@laptop\trollback\tok",
            Entry(SHA, "2024-01-02T03:04:05Z", "20240102T030405Z-3f2a000", "-", "me@laptop", "rollback", "ok"),
        ),
        (f"{SHA}\n", Entry(SHA)),  # TJ's own format: the SHA alone
        (f"{SHA}  \n", Entry(SHA)),
        (f"{SHA} some words\n", Entry(SHA)),
        (f"{SHA}\tt\t{RID}\n", Entry(SHA, "t", RID, "", "", "", "")),  # cut short: never counted
        (f"{SHA}\tt\t{RID}\tref\twho\tdeploy\tok\tlater\n", Entry(SHA, "t", RID, "ref", "who", "deploy", "ok")),
        ("", None),
        ("\n", None),
        ("   \n", None),
        ("\tt\tr\n", None),
    ],
)  # fmt: skip
def test_parse_line(text: str, expected: Entry | None) -> None:
    assert expected == history.parse_line(text)


def test_a_tj_line_is_a_good_deploy_without_a_release() -> None:
    assert Entry(SHA, "", "", "", "", "deploy", "ok") == Entry(SHA)


def test_parse_skips_blank_lines_and_keeps_the_order() -> None:
    parsed = history.parse(["\n", line(2), "", SHA, line(1)])
    assert [rid(2), "", rid(1)] == [e.release for e in parsed]


def test_deploys_are_the_deploys_that_went_live() -> None:
    log = entries(
        SHA, line(1), line(2), line(2, "deploy", "bad"), line(1, "rollback"), line(1, "revert")
    )
    assert ["", rid(1), rid(2)] == [e.release for e in history.deploys(log)]  # TJ's line first


def test_bad_releases() -> None:
    log = entries(line(1), line(2), line(2, "deploy", "bad"), line(3, "revert", "bad"))
    assert {rid(2), rid(3)} == history.bad_releases(log)


@pytest.mark.parametrize(("live", "steps", "target"), [(3, 1, 2), (3, 2, 1), (2, 1, 1)])
def test_revert_goes_back_good_deploys_from_the_live_one(
    live: int, steps: int, target: int
) -> None:
    log = entries(line(1), line(2), line(3))
    assert rid(target) == history.revert_target(log, rid(live), steps).release


def test_two_reverts_walk_back_two_releases_instead_of_toggling() -> None:
    log = [line(1), line(2), line(3)]
    first = history.revert_target(history.parse(log), live=rid(3))
    log.append(line(2, "revert"))  # what the revert script logs; B is now live
    second = history.revert_target(history.parse(log), live=first.release)
    assert (rid(2), rid(1)) == (first.release, second.release)


def test_a_third_revert_past_the_first_release_is_refused() -> None:
    log = entries(line(1), line(2), line(3), line(2, "revert"), line(1, "revert"))
    with pytest.raises(Refused) as info:
        history.revert_target(log, rid(1))
    expected = "cannot revert 1: the history holds 0 earlier good releases"
    assert (expected, 8) == (info.value.message, info.value.status)


def test_revert_skips_releases_marked_bad() -> None:
    log = entries(line(1), line(2), line(2, "deploy", "bad"), line(1, "rollback"), line(3))
    assert rid(1) == history.revert_target(log, rid(3)).release


def test_revert_and_rollback_lines_do_not_count_as_deploys() -> None:
    log = entries(line(1), line(2), line(1, "revert"), line(1, "rollback"), line(3))
    assert rid(2) == history.revert_target(log, rid(3)).release


def test_a_revert_goes_back_into_tjs_history() -> None:
    """A server adopted from TJ's deploy: its short-SHA lines are deploys a revert can reach."""
    log = entries("abc1234", "def5678", line(1))
    assert history.revert_target(log, rid(1)) == Entry("def5678")
    assert history.revert_target(log, rid(1), 2) == Entry("abc1234")


def test_while_tjs_source_is_live_its_last_line_is_the_live_deploy() -> None:
    log = entries("abc1234", "def5678")
    assert history.revert_target(log, "", 1, tj_live=True) == Entry("abc1234")
    with pytest.raises(Refused):
        history.revert_target(log, "", 2, tj_live=True)
    with pytest.raises(Refused):
        history.revert_target(log, "", 1)  # nothing live at all


def test_find_never_takes_a_tj_line_for_a_release() -> None:
    assert history.find(entries("abc1234"), "") is None


TJ_BUILT = "20240105T120000Z-def5678"  # a release a revert built from TJ's line def5678


def tj_revert(release: str = TJ_BUILT, sha: str = "def5678" + "0" * 33) -> str:
    """The line revert.sh logs when it builds ``release`` from a line of TJ's deploy."""
    return "\t".join([sha, "2024-01-05T12:00:00Z", release, "-", "me@laptop", "revert", "ok"])


def test_a_release_built_from_a_tj_line_stands_where_that_line_stands() -> None:
    """After a revert into TJ's history, the next revert and ``previous`` go on from TJ's line."""
    log = entries("abc1234", "def5678", line(1), tj_revert())
    assert history.live_deploy(log, TJ_BUILT) is history.deploys(log)[1]
    assert history.revert_target(log, TJ_BUILT) == Entry("abc1234")
    with pytest.raises(Refused, match="holds 1 earlier good release"):
        history.revert_target(log, TJ_BUILT, 2)


def test_find_gives_the_revert_that_built_a_release_from_a_tj_line() -> None:
    """``current`` and ``status`` know such a release by the revert that made it live."""
    log = entries("abc1234", "def5678", line(1), tj_revert())
    assert history.find(log, TJ_BUILT) == history.parse_line(tj_revert())


def test_a_release_with_a_revert_line_alone_but_no_tj_commit_is_unknown() -> None:
    """Only a TJ line with its commit vouches for a release that has no deploy line."""
    log = entries("abc1234", line(1), tj_revert())
    assert (history.live_deploy(log, TJ_BUILT), history.find(log, TJ_BUILT)) == (None, None)
    with pytest.raises(Refused, match=r"is not in \.deploys"):
        history.revert_target(log, TJ_BUILT)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (2, "cannot revert 2: the history holds 1 earlier good release"),
        (3, "cannot revert 3: the history holds 1 earlier good release"),
    ],
)
def test_asking_for_more_than_the_history_holds_is_refused(steps: int, message: str) -> None:
    with pytest.raises(Refused) as info:
        history.revert_target(entries(line(1), line(2)), rid(2), steps)
    expected = (message, "run 'pushdeploy ENV list' to see the releases; nothing was changed", 8)
    assert expected == (info.value.message, info.value.hint, info.value.status)


def test_the_count_says_releases_in_the_plural() -> None:
    with pytest.raises(Refused) as info:
        history.revert_target(entries(line(1), line(2), line(3)), rid(3), 5)
    assert info.value.message == "cannot revert 5: the history holds 2 earlier good releases"


def test_a_live_release_missing_from_the_history_is_refused() -> None:
    with pytest.raises(Refused) as info:
        history.revert_target(entries(line(1), line(2)), rid(5))
    expected = (
        f"the live release {rid(5)} is not in .deploys",
        "deploy once with pushdeploy so the history has a starting point",
        8,
    )
    assert expected == (info.value.message, info.value.hint, info.value.status)


def test_nothing_live_is_refused() -> None:
    with pytest.raises(Refused) as info:
        history.revert_target(entries(line(1)), "")
    assert info.value.message == "nothing is live on this host, so there is nothing to revert from"


@pytest.mark.parametrize("steps", [0, -1])
def test_steps_below_one_are_refused(steps: int) -> None:
    with pytest.raises(Refused) as info:
        history.revert_target(entries(line(1), line(2)), rid(2), steps)
    assert f"revert needs a positive number of steps, got {steps}" == info.value.message


@pytest.mark.parametrize(("release", "expected"), [(rid(2), line(2)), (rid(9), None)])
def test_find_returns_the_deploy_of_a_release(release: str, expected: str | None) -> None:
    log = entries(line(1), line(2), line(2, "revert"), line(3))
    assert (history.parse_line(expected) if expected else None) == history.find(log, release)


GOOD = "0123456789abcdef0123456789abcdef01234567\t2024-01-01T00:00:00Z\t20240101T000000Z-0123456\tmain\tme@x\tdeploy\tok"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (GOOD.replace("20240101T000000Z-0123456", "../../etc"), "not a release ID: '../../etc'"),
        (GOOD.replace("20240101T000000Z-0123456", "/etc"), "not a release ID: '/etc'"),
        (GOOD.replace("20240101T000000Z-0123456", ""), "not a release ID: ''"),
        (
            GOOD.replace("20240101T000000Z-0123456", "20240101T000000Z-0123456/.."),
            "not a release ID",
        ),
        (
            GOOD.replace("0123456789abcdef0123456789abcdef01234567", "$(touch x)"),
            "not a full commit SHA",
        ),
        (
            GOOD.replace("0123456789abcdef0123456789abcdef01234567", "-" + "a" * 39),
            "not a full commit SHA",
        ),
        (
            GOOD.replace("0123456789abcdef0123456789abcdef01234567", "0123456"),
            "not a full commit SHA",
        ),
        ("--upload-pack=touch x", "not a commit SHA"),
        ("$(id)", "not a commit SHA"),
    ],
)
def test_a_malformed_line_is_reported_and_never_used(line: str, problem: str) -> None:
    problems: list[str] = []
    assert history.parse([GOOD, line, GOOD], problems) == [history.parse_line(GOOD)] * 2
    assert len(problems) == 1 and problems[0].startswith(".deploys line 2 ignored: ")
    assert problem in problems[0]


def test_a_reported_problem_quotes_at_most_80_characters_of_a_field() -> None:
    problems: list[str] = []
    history.parse([GOOD.replace("20240101T000000Z-0123456", "x" * 5000)], problems)
    assert len(problems[0]) < 150


def test_a_rollback_to_a_release_without_a_revision_is_kept() -> None:
    line = GOOD.replace("0123456789abcdef0123456789abcdef01234567", "unknown")
    assert history.parse_line(line.replace("\tdeploy\t", "\trollback\t")) is not None
    with pytest.raises(history.Malformed):
        history.parse_line(line)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20240101T000000Z-0123456", "20240101T000000Z-0123456"),
        ("source", ""),
        ("../x", ""),
        ("", ""),
    ],
)
def test_only_a_release_id_counts_as_live(value: str, expected: str) -> None:
    assert history.live_release(value) == expected
