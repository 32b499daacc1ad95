"""Deploying, redeploying and reverting for real: git on both ends, bash, and OpenSSH or local."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Project, wait_until


def test_setup_is_idempotent_and_creates_the_layout(project: Project) -> None:
    project.ok("app", "setup")
    again = project.ok("app", "setup")
    assert "set up" in again.stdout
    for name in ["repo", "releases", "shared/logs", "shared/pids", ".pushdeploy"]:
        assert (project.root / name).is_dir(), name
    assert not (project.root / ".pushdeploy" / "lock").exists()


def test_deploy_before_setup_fails_and_says_to_run_setup(project: Project) -> None:
    result = project.run("app")
    assert result.status == 6
    assert "not set up" in result.stderr
    assert "app setup' first" in result.stderr and "ENV" not in result.stderr


def test_deploy_makes_a_release_live_and_logs_it(ready_project: Project) -> None:
    p = ready_project
    result = p.ok("app")
    sha = p.origin.sha("main")
    assert p.live == "v1"
    assert p.live_release.endswith("-" + sha[:7])
    assert result.stdout.startswith(f"deployed main ({sha[:7]}) to 1 host in ")
    assert f"✓ ok {p.live_release}" in result.stderr
    line = p.history()[-1]
    assert [line[0], line[2], line[3], line[5], line[6]] == [
        sha,
        p.live_release,
        "main",
        "deploy",
        "ok",
    ]
    assert (p.root / "current" / "REVISION").read_text().strip() == sha
    assert (p.root / "current" / "tmp" / "restart.txt").exists()
    assert not (p.root / ".pushdeploy" / "lock").exists()


def test_redeploy_fetches_the_remote_branch_not_a_stale_copy(ready_project: Project) -> None:
    p = ready_project
    p.ok("app")
    p.deploy_new("v2", "app")
    assert p.live == "v2"
    assert p.live_release.endswith(p.origin.sha("main")[:7])
    assert len(p.releases()) == 2


def test_deploy_a_tag_a_partial_sha_or_the_newest_tag(ready_project: Project) -> None:
    p = ready_project
    p.origin.tag("release/1.0", annotated=True)
    first = p.origin.sha("main")
    p.origin.commit({"VERSION": "v2\n"})
    p.origin.tag("v2.0")
    p.ok("app", "release/1.0")
    assert p.live == "v1"
    p.ok("app", first[:9])
    assert f"-{first[:7]}" in p.live_release
    del p.keys["ref"]
    p.configure()
    result = p.ok("app")
    assert p.live == "v2"
    assert "deployed v2.0" in result.stdout


def test_unknown_ref_fails_and_leaves_the_live_release(ready_project: Project) -> None:
    p = ready_project
    p.ok("app")
    before = p.live_release
    result = p.run("app", "no-such-branch")
    assert result.status == 8  # refused before changing anything, as documented
    assert "no branch, tag or commit named 'no-such-branch'" in result.stderr
    assert p.live_release == before
    assert len(p.releases()) == 1


def test_a_misspelled_ref_is_refused_with_a_did_you_mean(ready_project: Project) -> None:
    p = ready_project
    p.origin.branch("feature/login")
    p.origin.tag("v1.2.0")
    *_, hint, log = p.run("app", "feature/logn").stderr.splitlines()
    assert (hint, log.startswith("log: ")) == ("hint: did you mean 'feature/login'?", True)
    assert "did you mean 'v1.2.0'?" in p.run("app", "v1.2.O").stderr
    assert "did you mean 'main'?" in p.run("app", "origin/mian").stderr


def test_failed_build_removes_the_half_built_release(ready_project: Project) -> None:
    p = ready_project
    p.ok("app")
    before = p.live_release
    p.configure(build="echo building\nfalse\necho never")
    p.origin.commit({"VERSION": "v2\n"})
    result = p.run("app")
    assert result.status == 6
    assert "build failed" in result.stderr
    assert "building" in result.stderr  # the last lines of output are shown with the error
    assert p.live_release == before
    assert p.releases() == [before]
    assert not (p.root / ".pushdeploy" / "lock").exists()


def test_failed_test_switches_back_marks_bad_and_exits_7(ready_project: Project) -> None:
    p = ready_project
    p.ok("app")
    good = p.live_release
    p.configure(test='test "$(cat VERSION)" != broken')
    p.origin.commit({"VERSION": "broken\n"})
    result = p.run("app")
    assert result.status == 7
    assert "switched back" in result.stderr
    assert p.live_release == good
    actions = [(line[5], line[6]) for line in p.history()]
    assert actions[-3:] == [("deploy", "ok"), ("rollback", "ok"), ("deploy", "bad")]
    # -T/--no-tests skips the failing check
    p.ok("-T", "app")
    assert p.live == "broken"


def test_revert_twice_walks_back_two_releases(ready_project: Project) -> None:
    p = ready_project
    p.ok("app")
    p.deploy_new("v2", "app")
    p.deploy_new("v3", "app")
    assert p.ok("app", "previous").stdout.startswith(p.history()[1][2])
    p.ok("app", "revert")
    assert p.live == "v2"
    p.ok("app", "revert")
    assert p.live == "v1"
    assert [line[5] for line in p.history()] == ["deploy"] * 3 + ["revert"] * 2


def test_revert_past_the_history_is_refused_and_changes_nothing(ready_project: Project) -> None:
    p = ready_project
    p.ok("app")
    p.deploy_new("v2", "app")
    before = (p.root / ".deploys").read_text()
    result = p.run("app", "revert", "5")
    assert result.status == 8
    assert "cannot revert 5: the history holds 1 earlier good release" in result.stderr
    assert p.live == "v2"
    assert (p.root / ".deploys").read_text() == before


def test_revert_rebuilds_a_pruned_release(ready_project: Project) -> None:
    p = ready_project
    p.configure(keep="1")
    p.ok("app")
    p.deploy_new("v2", "app")
    p.deploy_new("v3", "app")
    assert len(p.releases()) == 2  # keep=1, plus the previous good one which is never pruned
    p.ok("app", "revert", "2")
    assert p.live == "v1"


def test_keep_prunes_old_releases_but_never_current_or_previous(ready_project: Project) -> None:
    p = ready_project
    p.configure(keep="2")
    for version in ["v2", "v3", "v4", "v5"]:
        p.deploy_new(version, "app")
    assert len(p.releases()) == 2
    assert p.live == "v5"


def test_list_current_and_previous_read_the_history(ready_project: Project) -> None:
    p = ready_project
    p.ok("app")
    p.deploy_new("v2", "app")
    listing = p.ok("app", "list").stdout.splitlines()
    first, second = (line[2] for line in p.history())
    assert first in listing[1] and not listing[1].startswith("*")
    assert second in listing[2] and listing[2].startswith("*")
    assert p.ok("app", "current").stdout.startswith(second)
    assert p.ok("app", "curr").stdout == p.ok("app", "current").stdout
    assert p.ok("app", "prev").stdout.startswith(first)
    data = p.ok("--json", "app", "current").stdout
    assert f'"release": "{second}"' in data


def test_hooks_get_their_variables_and_the_text_arrives_intact(ready_project: Project) -> None:
    p = ready_project
    p.configure(
        env='GREETING="hello world" QUOTE=it\\\'s',
        post_deploy='printf "%s|%s|%s|%s|%s" "$PUSHDEPLOY_ENV" "$GREETING" "$QUOTE" "$(basename "$RELEASE")" "$REVISION" > hook.out',
        pre_deploy="echo '$HOME and `backticks` stay literal' > \"$SHARED/pre.out\"",
    )
    first = p.ok("app")
    assert "pre-deploy skipped: nothing is live yet" in first.stderr  # a first deploy has no tree
    fields = (p.root / "current" / "hook.out").read_text().split("|")
    assert fields == ["app", "hello world", "it's", p.live_release, p.origin.sha("main")]
    p.deploy_new("v2", "app")  # pre-deploy runs in the live release
    assert (p.root / "shared" / "pre.out").read_text() == "$HOME and `backticks` stay literal\n"


def test_env_names_like_the_scripts_own_variables_reach_hooks_only(
    ready_project: Project, tmp_path: Path
) -> None:
    # The remote script keeps its deploy root in P, the repo URL in REPO, the release in ID...:
    # a user's env with those names must reach the hooks and leave the script's own alone.
    p = ready_project
    elsewhere = tmp_path / "elsewhere"
    p.configure(
        env=f"P={elsewhere} REPO=nowhere ID=mine", post_deploy='echo "$P $REPO $ID" > env.out'
    )
    p.ok("app")
    assert (p.root / "current" / "env.out").read_text() == f"{elsewhere} nowhere mine\n"
    assert p.live_release in [line[2] for line in p.history()]
    assert not elsewhere.exists()


def test_shared_paths_are_linked_into_each_release(ready_project: Project) -> None:
    p = ready_project
    p.configure(shared="logs/ config/.env")
    (p.root / "shared" / "config").mkdir(parents=True)
    (p.root / "shared" / "config" / ".env").write_text("SECRET=1\n")
    p.ok("app")
    assert (p.root / "current" / "logs").is_symlink()
    assert (p.root / "current" / "config" / ".env").read_text() == "SECRET=1\n"


def test_missing_shared_file_fails_before_going_live(ready_project: Project) -> None:
    p = ready_project
    p.configure(shared=".env")
    result = p.run("app")
    assert result.status == 6
    assert ".env does not exist" in result.stderr
    assert not (p.root / "current").exists()


def test_hostile_refs_are_refused_before_anything_runs(
    ready_project: Project, tmp_path: Path
) -> None:
    p = ready_project
    marker = tmp_path / "pwned"
    for ref in [f"$(touch {marker})", f"`touch {marker}`", "--upload-pack=touch", "a;b"]:
        result = p.run("app", "deploy", ref)
        assert result.status == 8, ref
        assert "not a valid ref" in result.stderr
    assert not marker.exists()
    assert not (p.root / "current").exists()


def test_a_second_deploy_is_refused_while_the_lock_is_held(
    ready_project: Project, tmp_path: Path
) -> None:
    p = ready_project
    gate = tmp_path / "gate"
    p.configure(build=f"for i in $(seq 300); do [ -e {str(gate)!r} ] && break; sleep 0.1; done")
    results = []
    first = threading.Thread(target=lambda: results.append(p.run("app")))
    first.start()
    try:
        wait_until(
            lambda: (p.root / ".pushdeploy" / "lock" / "token").exists(), what="the first lock"
        )
        second = p.run("app")
    finally:
        gate.touch()
        first.join(60)
    assert second.status == 5
    assert "locked by" in second.stderr and "running: deploy main" in second.stderr
    assert results[0].status == 0


def test_a_stale_lock_is_taken_over_with_a_warning(ready_project: Project) -> None:
    p = ready_project
    lock = p.root / ".pushdeploy" / "lock"
    lock.mkdir()
    (lock / "owner").write_text("ghost@nowhere (pid 1)\n")
    (lock / "token").write_text("old\n")
    old = time.time() - 600
    os.utime(lock / "owner", (old, old))
    result = p.ok("app")
    assert "took over a stale lock" in result.stderr and "ghost@nowhere" in result.stderr


def test_unlock_removes_a_lock_and_names_its_holder(ready_project: Project) -> None:
    p = ready_project
    lock = p.root / ".pushdeploy" / "lock"
    lock.mkdir()
    (lock / "owner").write_text("someone@box (pid 7)\n")
    held = p.run("app")
    assert held.status == 5
    result = p.ok("app", "unlock")
    assert "someone@box (pid 7)" in result.stdout
    assert not lock.exists()
    assert "no lock" in p.ok("app", "unlock").stdout


@pytest.mark.parametrize("owner", ["", None], ids=["empty owner file", "no owner file"])
def test_unlock_tells_the_truth_about_a_lock_without_its_owner(
    ready_project: Project, owner: str | None
) -> None:
    """Such a lock is an old version's or a hand-made one: unlock still says it removed it."""
    p = ready_project
    lock = p.root / ".pushdeploy" / "lock"
    lock.mkdir()
    if owner is not None:
        (lock / "owner").write_text(owner)
    result = p.ok("app", "unlock")
    assert result.stdout.endswith(
        "removed the lock held by an unknown holder (no owner recorded)\n"
    )
    assert not lock.exists()


def test_a_deploy_leaves_no_temporary_lock_or_link_behind(ready_project: Project) -> None:
    p = ready_project
    p.ok("app")
    p.deploy_new("v2", "app")
    assert sorted(x.name for x in (p.root / ".pushdeploy").iterdir()) == ["runs"]
    runs = sorted(x.name for x in (p.root / ".pushdeploy/runs").iterdir())
    assert runs == sorted(f"{r}.log" for r in p.releases())  # the deploys' own logs only
    assert not [x.name for x in p.root.iterdir() if x.name.startswith(".current")]


def test_exec_runs_in_the_live_release_and_passes_the_status_on(ready_project: Project) -> None:
    p = ready_project
    p.ok("app")
    assert p.ok("app", "exec", "cat", "VERSION").stdout == "v1\n"
    assert p.ok("app", "run", "echo $PUSHDEPLOY_ENV | tr a-z A-Z").stdout == "APP\n"
    failed = p.run("app", "exec", "exit 3")
    assert failed.status == 3
    assert failed.error_lines


def test_exec_passes_piped_input_on_to_the_command(ready_project: Project) -> None:
    # As `ssh host cmd < file` would: more than an SSH window's worth (2 MiB), binary, with
    # newlines and NULs, and read by the command after bash has read the script from the stream.
    p = ready_project
    p.ok("app")
    data = bytes(range(256)) * (3 * 1024 * 1024 // 256) + b"tail without newline"
    result = p.ok("app", "exec", "cat > upload.bin && wc -c < upload.bin", stdin=data)
    assert result.stdout.strip() == str(len(data))
    assert (p.root / "current" / "upload.bin").read_bytes() == data


def test_exec_without_input_gives_the_command_an_empty_stdin(ready_project: Project) -> None:
    p = ready_project
    p.ok("app")
    assert p.ok("app", "exec", "cat; echo end").stdout == "end\n"  # EOF at once, no hang


def test_dry_run_prints_the_scripts_and_changes_nothing(ready_project: Project) -> None:
    p = ready_project
    result = p.ok("--dry-run", "app")
    assert "lock_take" in result.stdout and 'switch "$ID"' in result.stdout
    assert not (p.root / "current").exists()
    assert not (p.root / ".pushdeploy" / "lock").exists()


def test_wait_polls_for_a_held_lock_until_its_deadline(ready_project: Project) -> None:
    p = ready_project
    lock = p.root / ".pushdeploy" / "lock"
    lock.mkdir()
    (lock / "owner").write_text("busy@box (pid 9)\n")
    started = time.monotonic()
    result = p.run("--wait", "2", "app")
    assert result.status == 5
    assert time.monotonic() - started >= 2
    assert "busy@box (pid 9)" in result.stderr
    remover = threading.Timer(0.5, lambda: (lock / "owner").unlink() or lock.rmdir())
    remover.start()
    try:
        p.ok("--wait", "20", "app")
    finally:
        remover.join()
    assert p.live == "v1"


def test_a_path_with_shell_syntax_is_used_literally(project: Project, tmp_path: Path) -> None:
    p = project
    marker = tmp_path / "pwned"
    p.root = tmp_path / f"dir $(touch {marker}) `touch {marker}`; x"
    p.configure(path=str(p.root))
    p.ok("app", "setup")
    p.ok("app")
    assert p.live == "v1"
    assert not marker.exists()


def test_a_restart_command_runs_again_for_the_release_switched_back_to(
    ready_project: Project,
) -> None:
    p = ready_project
    p.configure(restart='basename "$(pwd -P)" >> "$SHARED/restarts"')
    p.ok("app")
    good = p.live_release
    p.configure(test="false")
    p.origin.commit({"VERSION": "v2\n"})
    assert p.run("app").status == 7
    bad = p.history()[-1][2]
    assert (p.root / "shared" / "restarts").read_text().split() == [good, bad, good]


def test_verbose_shows_hook_output_in_order_with_the_steps(ready_project: Project) -> None:
    p = ready_project
    p.configure(build="echo built-it", post_deploy="echo posted-it >&2", test="echo tested-it")
    lines = p.ok("-v", "app").stderr.splitlines()
    order = ["› build", "built-it", "› switch", "› post-deploy", "posted-it", "› test", "tested-it"]
    found = [next(i for i, line in enumerate(lines) if part in line) for part in order]
    assert found == sorted(found), lines
