"""watch.py and looks.py: when the watcher looks, what it sees, and when it deploys."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pushdeploy.cli import main as cli
from pushdeploy.cli import watch
from pushdeploy.config.deployconf import load
from pushdeploy.errors import ConnectionError, Refused, UsageError
from pushdeploy.watch import looks
from pushdeploy.watch.watcher import Stopped, Watcher, jittered, next_wait
from tests.support.cli import run_cli
from tests.support.gitrepo import Origin
from tests.support.httpfiles import HTTPFiles, Route

SHA_A, SHA_B, TAG = "a" * 40, "b" * 40, "c" * 40


@pytest.mark.parametrize(
    ("interval", "backoff", "failures", "expected"),
    [
        (30, 600, 0, 30.0),
        (30, 600, 1, 60.0),
        (30, 600, 2, 120.0),
        (30, 600, 4, 480.0),
        (30, 600, 5, 600.0),  # capped
        (30, 600, 99, 600.0),
        (1, 4, 1, 2.0),
        (1, 4, 3, 4.0),
        (900, 600, 1, 900.0),  # never shorter than the interval
        (0, 600, 0, None),  # webhooks only
        (0, 600, 1, 2.0),
    ],
)
def test_the_backoff_schedule_doubles_up_to_watch_backoff(
    interval: int, backoff: int, failures: int, expected: float | None
) -> None:
    assert next_wait(interval, backoff, failures) == expected


def test_jitter_stays_within_ten_percent_either_way() -> None:
    rands = [0.0, 0.25, 0.5, 0.999999]
    assert [round(jittered(30, r), 3) for r in rands] == [27.0, 28.5, 30.0, 33.0]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("main", ["refs/tags/main", "refs/tags/main^{}", "refs/heads/main"]),
        ("origin/main", ["refs/tags/main", "refs/tags/main^{}", "refs/heads/main"]),
        ("origin/HEAD", ["HEAD"]),
    ],
)
def test_ls_remote_asks_for_the_refs_the_server_would_resolve(
    ref: str, expected: list[str]
) -> None:
    assert looks.ls_remote("/r", ref) == ["git", "ls-remote", "--end-of-options", "/r", *expected]


def test_without_a_ref_ls_remote_lists_every_tag() -> None:
    assert looks.ls_remote("/r", None) == ["git", "ls-remote", "--tags", "--end-of-options", "/r"]


def test_a_repo_that_looks_like_an_option_is_refused() -> None:
    with pytest.raises(Exception, match="starts with '-'"):
        looks.ls_remote("--upload-pack=touch x", "main")


LISTING = (
    f"{SHA_A}\tHEAD\n{SHA_A}\trefs/heads/main\n{TAG}\trefs/tags/v1\n{SHA_B}\trefs/tags/v1^{{}}\n"
    f"{SHA_B}\trefs/heads/v1\n"
)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("main", SHA_A),
        ("origin/main", SHA_A),
        ("origin/HEAD", SHA_A),
        ("v1", SHA_B),  # the tag, peeled, before the branch of the same name
        ("nope", None),
        ("abc1234", "abc1234"),  # a SHA names itself
    ],
)
def test_the_identity_of_a_ref_is_what_the_server_would_resolve(
    ref: str, expected: str | None
) -> None:
    assert looks.identity_of(LISTING, ref) == expected


def test_without_a_ref_every_change_of_the_tags_is_a_new_identity() -> None:
    one = looks.identity_of(f"{TAG}\trefs/tags/v1\n", None)
    two = looks.identity_of(f"{TAG}\trefs/tags/v1\n{SHA_A}\trefs/tags/v2\n", None)
    assert (one is not None, two is not None, one != two) == (True, True, True)
    assert looks.identity_of(f"{SHA_A}\trefs/heads/main\n", None) is None


@pytest.mark.parametrize(
    ("identity", "expected"),
    [(SHA_A, "a" * 12), ("sha256 " + "f" * 64, "sha256 " + "f" * 16), ('etag "x1"', 'etag "x1"')],
)
def test_an_identity_is_shown_short(identity: str, expected: str) -> None:
    assert looks.short(identity) == expected


def environment(tmp_path: Path, text: str, **environ: str) -> Any:
    (tmp_path / "deploy.conf").write_text(text)
    return load(tmp_path / "deploy.conf", "app", {}, environ=environ or None)


def test_a_git_look_reads_the_origin_from_this_machine(tmp_path: Path) -> None:
    origin = Origin(tmp_path / "origin")
    first = origin.commit({"VERSION": "v1\n"})
    env = environment(
        tmp_path, f"[app]\nhost = local\nrepo = {origin.path}\npath = /p\nref = main\n"
    )
    look = looks.git_look(env)
    seen = [look()]
    seen.append(look())
    second = origin.commit({"VERSION": "v2\n"})
    seen.append(look())
    assert seen == [first, first, second]


def test_a_git_look_at_a_missing_ref_or_repo_fails_as_a_look(tmp_path: Path) -> None:
    origin = Origin(tmp_path / "origin")
    origin.commit({"VERSION": "v1\n"})
    env = environment(
        tmp_path, f"[app]\nhost = local\nrepo = {origin.path}\npath = /p\nref = dev\n"
    )
    with pytest.raises(Refused, match="has no ref 'dev'"):
        looks.git_look(env)()
    gone = environment(tmp_path, f"[app]\nhost = local\nrepo = {tmp_path}/gone\npath = /p\n")
    with pytest.raises(ConnectionError, match=r"git ls-remote .*/gone failed"):
        looks.git_look(gone)()


def test_the_repo_token_reaches_git_in_its_environment_never_its_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fake git on PATH records what it was given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "record"
    fake = bin_dir / "git"
    fake.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}.argv\nenv > {record}.env\n'
        f'printf "{SHA_A}\\trefs/heads/main\\n"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    text = "[app]\nhost = local\nrepo = https://git.example.com/app.git\npath = /p\nref = main\n"
    env = environment(tmp_path, text + "repo-token = $REPO_TOKEN\n", REPO_TOKEN="t0ken-value-1")
    assert looks.git_look(env)() == SHA_A
    argv = Path(f"{record}.argv").read_text()
    environ = Path(f"{record}.env").read_text().splitlines()
    assert "t0ken-value-1" not in argv
    assert "credential.helper=" in argv.splitlines()
    assert "PUSHDEPLOY_REPO_TOKEN=t0ken-value-1" in environ
    assert "PUSHDEPLOY_REPO_SCOPE=https://git.example.com" in environ
    assert "GIT_TERMINAL_PROMPT=0" in environ


def test_an_artifact_url_is_looked_at_through_its_checksum_file(tmp_path: Path) -> None:
    digest = "e" * 64
    with HTTPFiles(
        {"/app-v3.tar.gz.sha256": Route(f"{digest}  app-v3.tar.gz\n".encode())}
    ) as files:
        url = files.url("/app-{ref}.tar.gz")
        env = environment(tmp_path, f"[app]\nhost = local\nartifact = {url}\npath = /p\nref = v3\n")
        assert looks.artifact_look(env, tmp_path)() == f"sha256 {digest}"
        files.routes.clear()
        with pytest.raises(ConnectionError, match="cannot read the artifact's identity"):
            looks.artifact_look(env, tmp_path)()


def test_a_local_artifact_cannot_be_watched(tmp_path: Path) -> None:
    env = environment(tmp_path, "[app]\nhost = local\nartifact = dist/app.tar.gz\npath = /p\n")
    with pytest.raises(UsageError, match="a file on this machine: there is nothing to watch"):
        looks.of(env, tmp_path)


class Said:
    """A console stand-in that keeps what the watcher said."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str) -> None:
        self.lines.append(text)

    def warn(self, text: str) -> None:
        self.lines.append("warning: " + text)


class Script:
    """Looks and deploy statuses played in order; the wake records each wait and stops the
    watcher when the looks run out (so every loop here ends)."""

    def __init__(self, looks: list[str | Exception], statuses: list[int]) -> None:
        self.looks, self.statuses = looks, statuses
        self.deployed: list[str] = []
        self.waits: list[float | None] = []
        self.current = ""

    def look(self) -> str:
        seen = self.looks.pop(0)
        if isinstance(seen, Exception):
            raise seen
        self.current = seen
        return seen

    def deploy(self) -> int:
        self.deployed.append(self.current)
        return self.statuses.pop(0)

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(None if timeout is None else round(timeout, 3))
        if not self.looks:
            raise Stopped
        return False

    def clear(self) -> None:
        pass


def watched(script: Script, interval: int = 10, backoff: int = 40) -> Said:
    said = Said()
    env = SimpleNamespace(watch=SimpleNamespace(interval=interval, backoff=backoff))
    watcher = Watcher(script.look, script.deploy, said, env, script, rand=lambda: 0.5)  # type: ignore[arg-type]
    with pytest.raises(Stopped):
        watcher.run()
    return said


def test_the_first_look_deploys_and_then_only_a_change_does() -> None:
    script = Script(["A", "A", "B", "B"], [0, 0])
    watched(script)
    assert (script.deployed, script.waits) == (["A", "B"], [10.0, 10.0, 10.0, 10.0])


def test_a_failed_look_or_deploy_backs_off_and_a_success_resets_the_wait() -> None:
    unreachable = ConnectionError("git ls-remote /r failed: fatal: no such repository")
    script = Script([unreachable, unreachable, "A", "A", "A", "A"], [6, 6, 0])
    said = watched(script)
    assert script.deployed == ["A", "A", "A"]
    assert script.waits == [20.0, 40.0, 40.0, 40.0, 10.0, 10.0]
    assert said.lines[0] == (
        "warning: watch: git ls-remote /r failed: fatal: no such repository; next try in about 20 s"
    )
    assert "warning: watch: the deploy of A failed (exit 6); next try in about 40 s" in said.lines


def test_a_release_that_was_switched_back_is_not_deployed_again_until_the_source_moves() -> None:
    script = Script(["A", "B", "B", "B", "A"], [0, 7])
    said = watched(script)
    assert script.deployed == ["A", "B"]  # A is live already: coming back to it deploys nothing
    assert any("B went live, failed and was switched back" in line for line in said.lines)


def test_an_interrupted_deploy_stops_the_watcher_with_its_status() -> None:
    script = Script(["A", "B"], [130])
    with pytest.raises(Stopped) as stopped:
        env = SimpleNamespace(watch=SimpleNamespace(interval=1, backoff=2))
        Watcher(script.look, script.deploy, Said(), env, script).run()  # type: ignore[arg-type]
    assert (stopped.value.status, script.deployed) == (130, ["A"])


def test_with_interval_0_the_watcher_waits_for_a_push() -> None:
    script = Script(["A", "A"], [0])
    said = watched(script, interval=0)
    assert (script.waits, said.lines[-1]) == ([None, None], "watch: waiting for a push")


@pytest.mark.parametrize(
    "argv",
    [
        ["app", "watch"],
        ["-c", "my.conf", "-C", "/srv/x", "-H", "h1", "--host=-odd", "-vv", "--wait", "5", "app", "watch"],
        ["--json", "--force", "--host-key", "accept-new", "--batch", "50%", "-T", "app", "watch"],
    ],
)  # fmt: skip
def test_each_deploy_gets_the_global_options_the_watcher_got(argv: list[str]) -> None:
    args = cli.build_parser().parse_args(argv)
    again = cli.build_parser().parse_args([*watch.global_options(args), "app", "deploy"])
    assert {**vars(again), "words": ["watch"]} == vars(args)


def conf(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "deploy.conf").write_text(
        f"[app]\nhost = local\nrepo = /r\npath = /srv/my app\n{extra}"
    )
    return tmp_path


@pytest.mark.parametrize(
    ("extra", "argv", "status", "message"),
    [
        ("", ["--listen", "127.0.0.1:0"], 3, "[app] watch --listen needs webhook-secret"),
        ("interval = 0\n", [], 2, "watch: interval = 0 means webhooks only"),
        ("webhook-secret = $HOOK\n", ["--listen", "nowhere"], 2, "watch --listen: expected HOST:PORT"),
        ("artifact = dist/a.tar.gz\n", [], 2, "watch: artifact dist/a.tar.gz is a file on this machine"),
    ],
)  # fmt: skip
def test_a_watcher_that_cannot_work_refuses_to_start(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    extra: str,
    argv: list[str],
    status: int,
    message: str,
) -> None:
    monkeypatch.setenv("HOOK", "a-webhook-secret")
    result = run_cli("-C", conf(tmp_path, extra), "app", "watch", *argv)
    assert (result.status, result.error_lines[0].startswith(f"pushdeploy: error: {message}")) == (
        status,
        True,
    ), result.stderr


def test_systemd_watch_prints_a_unit_that_runs_this_watcher(tmp_path: Path) -> None:
    result = run_cli(
        "-C", conf(tmp_path), "-v", "app", "systemd", "--watch", "--listen", "127.0.0.1:8780"
    )
    assert result.status == 0, result.stderr
    name, _, unit = result.stdout.partition("\n")
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    config = tmp_path.resolve() / "deploy.conf"
    assert name == "# pushdeploy-app-watch.service"
    assert start == (
        f"ExecStart={sys.executable} -m pushdeploy"
        f" --config={config} --verbose app watch --listen=127.0.0.1:8780"
    )
    for line in ("Restart=always", "KillMode=mixed", "KillSignal=SIGTERM", "TimeoutStopSec=210",
                 f"WorkingDirectory={tmp_path.resolve()}", f"User={getpass.getuser()}"):  # fmt: skip
        assert line in unit.splitlines()


def test_systemd_watch_installs_nothing(tmp_path: Path) -> None:
    result = run_cli("-C", conf(tmp_path), "app", "systemd", "--watch", "--install")
    assert (result.status, result.error_lines) == (
        2,
        [
            "pushdeploy: error: systemd --watch prints the watcher's unit; it takes no --socket or --install"
        ],
    )


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_accepts_the_watchers_unit(tmp_path: Path) -> None:
    unit = run_cli("-C", conf(tmp_path), "app", "systemd", "--watch").stdout.partition("\n")[2]
    (tmp_path / "app-watch.service").write_text(unit)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(tmp_path / "app-watch.service")],
        capture_output=True, text=True, timeout=60, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )  # fmt: skip
    complaints = [line for line in (done.stdout + done.stderr).splitlines() if "app-watch" in line]
    assert (done.returncode, complaints) == (0, [])


def test_systemd_listen_without_watch_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("-C", conf(tmp_path), "app", "systemd", "--listen", "127.0.0.1:8780")
    assert (result.status, result.error_lines) == (
        2,
        ["pushdeploy: error: systemd: --listen is for --watch (the watcher's unit)"],
    )
