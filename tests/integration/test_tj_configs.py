"""deploy.conf files written for TJ's `deploy` deploy unchanged over a real sshd (issue 8, 1).

Each config below is in TJ's own style: `key value` lines, `user` apart from `host`, `ref
origin/master`, hooks that reach `../shared` as TJ's did from path/current. The origin's branch is
`master`, as it was in TJ's day.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import Result, run_cli
from tests.support.clienthome import ClientHome
from tests.support.gitrepo import Origin


class TJProject:
    def __init__(self, base: Path, home: ClientHome) -> None:
        self.base, self.home = base, home
        self.origin = Origin(base / "origin")
        self.origin.git("checkout", "-q", "-b", "master")
        self.origin.commit({"VERSION": "v1\n", "bin/check": "#!/bin/sh\ntest -f VERSION\n"}, "v1")
        self.root = base / "srv" / "app"
        self.conf = base / "deploy.conf"

    def write(self, body: str) -> None:
        """A [production] section: TJ's connection lines, then ``body`` (TJ's `key value` lines)."""
        head = [
            "[production]",
            f"user {self.home.user}",
            f"host {self.home.host}",
            f"port {self.home.port}",
            f"key {self.home.key}",
            f"repo {self.origin.path}",
            f"path {self.root}",
        ]
        self.conf.write_text("\n".join(head) + "\n" + body.strip() + "\n")

    def run(self, *args: str) -> Result:
        return run_cli("-c", self.conf, "-C", self.base, "production", *args)

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.status == 0, f"exit {result.status}\n{result.stdout}\n{result.stderr}"
        return result

    @property
    def live(self) -> str:
        return (self.root / "current" / "VERSION").read_text().strip()


@pytest.fixture
def tj(tmp_path: Path, ssh_home: ClientHome) -> TJProject:
    return TJProject(tmp_path, ssh_home)


def test_the_classic_config_with_ref_origin_master_and_hooks_using_shared(tj: TJProject) -> None:
    tj.write(
        """
ref origin/master
post-deploy echo deployed >> ../shared/logs/deploys.log
test sh bin/check
"""
    )
    tj.ok("setup")
    tj.ok()
    tj.origin.commit({"VERSION": "v2\n"}, "v2")
    tj.ok()
    assert tj.live == "v2"
    assert (tj.root / "shared" / "logs" / "deploys.log").read_text() == "deployed\ndeployed\n"


def test_a_pub_key_forward_agent_and_needs_tty(tj: TJProject) -> None:
    """key names the .pub file (its private half logs in); hooks get a terminal with needs_tty."""
    public = Path(f"{tj.home.key}.pub")
    assert public.exists()
    tj.write(
        """
ref origin/master
forward-agent yes
needs_tty yes
post-deploy if [ -t 1 ]; then echo tty > ../shared/tty; else echo none > ../shared/tty; fi
"""
    )
    tj.conf.write_text(tj.conf.read_text().replace(f"key {tj.home.key}", f"key {public}"))
    tj.ok("setup")
    tj.ok()
    assert (tj.root / "shared" / "tty").read_text().strip() == "tty"


def test_pre_deploy_is_skipped_on_a_first_deploy_and_runs_in_the_live_release_after(
    tj: TJProject,
) -> None:
    tj.write(
        """
ref origin/master
pre-deploy cat VERSION >> ../shared/before.log
"""
    )
    tj.ok("setup")
    first = tj.ok()
    assert "pre-deploy skipped: nothing is live yet" in first.stderr
    tj.origin.commit({"VERSION": "v2\n"}, "v2")
    tj.ok()
    assert (tj.root / "shared" / "before.log").read_text() == "v1\n"
    assert tj.live == "v2"


def test_setup_runs_the_pre_and_post_setup_hooks(tj: TJProject) -> None:
    ran = tj.base / "pre-setup-ran"
    tj.write(
        f"""
ref origin/master
pre-setup test ! -e {tj.root} && echo "$HOME" > {ran}
post-setup pwd > shared/post-setup-ran
"""
    )
    tj.ok("setup")
    assert ran.read_text().strip()  # it ran, in the login directory, before path existed
    assert (tj.root / "shared" / "post-setup-ran").read_text().strip() == str(tj.root)
    tj.ok()
    assert tj.live == "v1"


def test_ref_origin_head_is_the_remote_default_branch(tj: TJProject) -> None:
    tj.origin.git("checkout", "-q", "-b", "side")
    tj.origin.commit({"VERSION": "side\n"}, "side")
    tj.origin.git("checkout", "-q", "master")
    tj.write("ref origin/HEAD\n")
    tj.ok("setup")
    tj.ok()
    assert tj.live == "v1"


def test_no_ref_deploys_the_newest_tag_and_multi_word_hooks_keep_their_words(
    tj: TJProject,
) -> None:
    tj.origin.tag("v1.0")
    tj.origin.commit({"VERSION": "untagged\n"}, "later")
    tj.write(
        """
post-deploy echo "$PUSHDEPLOY_ENV" one  two > ../shared/words && test -n "$SHARED"
"""
    )
    tj.ok("setup")
    tj.ok()
    assert tj.live == "v1"
    assert (tj.root / "shared" / "words").read_text() == "production one two\n"


def test_releases_shared_is_no_release(tj: TJProject) -> None:
    """The link that makes ../shared work is passed by list, prune and revert."""
    tj.write("ref origin/master\nkeep 1\npost-deploy touch ../shared/seen\n")
    tj.ok("setup")
    tj.ok()
    tj.origin.commit({"VERSION": "v2\n"}, "v2")
    tj.ok()
    assert os.readlink(tj.root / "releases" / "shared") == "../shared"
    listed = tj.ok("list").stdout
    assert "shared" not in listed.split()


def tj_server(tj: TJProject) -> list[str]:
    """Lay out the server as TJ's deploy left it after two deploys; returns their short SHAs."""
    first = tj.origin.sha("HEAD")
    second = tj.origin.commit({"VERSION": "v2\n"}, "v2")
    source = tj.root / "source"
    tj.origin.git("clone", "-q", str(tj.origin.path), str(source))
    for sub in ("logs", "pids"):
        (tj.root / "shared" / sub).mkdir(parents=True, exist_ok=True)
    (tj.root / "current").symlink_to(source)
    shorts = [tj.origin.git("rev-parse", "--short", sha) for sha in (first, second)]
    (tj.root / ".deploys").write_text("".join(f"{s}\n" for s in shorts))
    return shorts


def test_a_server_tj_deployed_is_adopted_and_reverted_into_its_tj_history(tj: TJProject) -> None:
    shorts = tj_server(tj)
    tj.write("ref origin/master\n")
    source_head = (tj.root / "source" / ".git" / "HEAD").read_text()
    tj.ok("setup")
    assert os.readlink(tj.root / "current") == str(tj.root / "source")  # the app kept running
    listed = tj.ok("list").stdout
    assert shorts[0] in listed and shorts[1] in listed and listed.count(" tj") == 2
    assert tj.ok("current").stdout.startswith(f"source (TJ's deploy) {shorts[1]}")
    reverted = tj.ok("revert")  # from TJ's live source to the deploy before it
    assert tj.live == "v1" and shorts[0] in reverted.stdout
    tj.origin.commit({"VERSION": "v3\n"}, "v3")
    tj.ok()
    assert tj.live == "v3"
    tj.ok("revert")  # back into TJ's history: the deploy before v3 was TJ's v2
    assert tj.live == "v2"
    lines = (tj.root / ".deploys").read_text().splitlines()
    assert lines[:2] == shorts  # nothing TJ wrote is deleted
    assert (tj.root / "source" / ".git" / "HEAD").read_text() == source_head
    assert (tj.root / "source" / "VERSION").read_text() == "v2\n"


def test_releases_holds_only_releases_when_no_hook_reaches_shared_beside(tj: TJProject) -> None:
    tj.write('ref origin/master\npost-deploy touch "$SHARED/seen"\n')
    tj.ok("setup")
    tj.ok()
    assert [p.name for p in (tj.root / "releases").iterdir()] == [
        os.readlink(tj.root / "current").split("/")[-1]
    ]


def test_after_a_revert_into_tjs_history_the_next_revert_goes_on_from_there(
    tj: TJProject,
) -> None:
    """The release a revert built from TJ's line is that line in list, previous, status, revert."""
    shorts = tj_server(tj)
    tj.write("ref origin/master\n")
    tj.ok("setup")
    tj.origin.commit({"VERSION": "v3\n"}, "v3")
    tj.ok()
    tj.ok("revert")  # builds a release from TJ's v2
    assert tj.live == "v2"
    built = os.readlink(tj.root / "current").removeprefix("releases/")
    assert tj.ok("current").stdout.startswith(f"{built} {shorts[1]}")
    assert tj.ok("previous").stdout.startswith(f"source (TJ's deploy) {shorts[0]}")
    live = [row for row in tj.ok("list").stdout.splitlines() if row.startswith("*")]
    assert [row.split()[1:3] for row in live] == [[built, shorts[1]]]
    assert tj.run("status").status == 0  # no drift: .deploys knows the live release
    tj.ok("revert")  # on into TJ's history: v1
    assert tj.live == "v1"
    live = [row for row in tj.ok("list").stdout.splitlines() if row.startswith("*")]
    assert [row.split()[2] for row in live] == [shorts[0]]
    refused = tj.run("revert")  # TJ's first deploy is the oldest: nothing before it
    said = f"pushdeploy: error: {tj.home.host}: cannot revert 1: the history holds 0 earlier"
    assert (refused.status, f"{said} good releases" in refused.stderr.splitlines()) == (8, True), (
        refused.stderr
    )
