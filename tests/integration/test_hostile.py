"""The hostile-input corpus: refs, tags, config values, hosts, planted symlinks, tampered history.

Every case runs real commands against a real deploy root (over ``local`` bash and over a real
OpenSSH server) and asserts the same three things, whatever the command's verdict:

* the canary file a payload would create never exists;
* nothing outside the deploy path changed: a sibling ``outside`` tree (names, types, sizes,
  mtimes, symlink targets, the directories' own included) is the same before and after;
* every command ended with a documented exit status (never 1) and printed no traceback.

Refusing or failing is fine; touching anything outside the deploy path never is. The repository's
tree, the history in ``.deploys`` and everything else read back from the server are untrusted.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pushdeploy.errors import ExitStatus
from tests.integration.conftest import Project
from tests.support.cli import Result
from tests.support.clienthome import ClientHome

DOCUMENTED = {int(s) for s in ExitStatus} - {ExitStatus.ERROR}
C = "{canary}"  # replaced by the canary's absolute path (no blanks in it)


class Arena:
    """A project plus a canary path and an ``outside`` tree next to the deploy root."""

    def __init__(self, project: Project) -> None:
        self.p = project
        self.canary = project.base / "CANARY"
        self.outside = project.base / "outside"
        (self.outside / "dir").mkdir(parents=True)
        (self.outside / "victim.txt").write_text("keep me\n")
        (self.outside / "dir" / "db.yml").write_text("secret: 1\n")
        (self.outside / "tmp").mkdir()
        os.symlink("victim.txt", self.outside / "link")
        self.before = snapshot(self.outside)
        self.log: list[str] = []  # each command, its status and its error line: for failures

    def fill(self, text: str) -> str:
        return text.replace(C, str(self.canary))

    def run(self, *args: str) -> Result:
        result = self.p.run(*(self.fill(a) for a in args))
        printed = result.stdout + result.stderr
        said = result.error_lines[0][:300] if result.error_lines else ""
        self.log.append(f"{[a[:80] for a in args]} -> {result.status} {said}")
        assert result.status in DOCUMENTED, f"{args}: exit {result.status}\n{result.stderr[-3000:]}"
        assert "Traceback" not in printed, printed[-3000:]
        assert "internal error" not in printed, printed[-3000:]
        return result

    def check(self) -> None:
        runs = "\n".join(self.log)
        assert not self.canary.exists(), f"the payload ran: the canary exists\n{runs}"
        after = snapshot(self.outside)
        keys = set(self.before) | set(after)
        changed = sorted(k for k in keys if self.before.get(k) != after.get(k))
        assert not changed, f"outside the deploy path changed: {changed}\n{runs}"


def snapshot(root: Path) -> dict[str, tuple[int, int, int, str | None]]:
    """Every entry under ``root`` (and root itself): type, size, mtime, symlink target."""
    seen: dict[str, tuple[int, int, int, str | None]] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        kind = stat.S_IFMT(info.st_mode)
        size = 0 if stat.S_ISDIR(info.st_mode) else info.st_size
        target = os.readlink(path) if stat.S_ISLNK(info.st_mode) else None
        seen[str(path.relative_to(root))] = (kind, size, info.st_mtime_ns, target)
    return seen


@pytest.fixture
def arena(project: Project) -> Arena:
    project.ok("app", "setup")
    return Arena(project)


# --- refs given on the command line ---------------------------------------------------------

REF_ARGS = [
    f"$(touch {C})",
    f"`touch {C}`",
    f"main;touch {C}",
    f"main|touch {C}",
    f"main&&touch {C}",
    f"main\ntouch {C}",
    f"--upload-pack=touch {C}",
    f"--output={C}",
    "-x",
    f"main' ; touch '{C}",
    f'main" ; touch "{C}',
    f">{C}",
    "${IFS}",
    "main\x1b]0;pwned\x07",
]


@pytest.mark.parametrize("ref", REF_ARGS)
def test_a_hostile_ref_argument_is_refused_and_runs_nothing(arena: Arena, ref: str) -> None:
    result = arena.run("app", "deploy", ref)
    assert result.status == ExitStatus.REFUSED
    assert "\x1b" not in result.stderr
    arena.check()


# --- branch and tag names in the repository -------------------------------------------------

TAG_NAMES = [
    f"v9$(touch${{IFS}}{C})",
    f"v9`touch${{IFS}}{C}`",
    f"v9;touch${{IFS}}{C}",
    f"v9|touch${{IFS}}{C}",
    f"v9&&touch${{IFS}}{C}",
    f"v9'$(touch${{IFS}}{C})'",
    f'v9"$(touch${{IFS}}{C})"',
    f"v9>{C}",
]


@pytest.mark.parametrize("tag", TAG_NAMES)
def test_the_newest_tag_named_like_shell_code_is_never_run(arena: Arena, tag: str) -> None:
    """No ref given: the server picks the newest tag itself, and its name is untrusted data."""
    del arena.p.keys["ref"]
    arena.p.configure()
    arena.p.origin.tag(arena.fill(tag))
    arena.run("app")
    arena.run("app", "list")
    arena.run("app", "current")
    arena.check()


@pytest.mark.parametrize("branch", [f"b$(touch${{IFS}}{C})", f"b;touch${{IFS}}{C}"])
def test_a_branch_named_like_shell_code_in_the_ref_key_is_refused(
    arena: Arena, branch: str
) -> None:
    arena.p.origin.branch(arena.fill(branch))
    arena.p.configure(ref=arena.fill(branch))
    assert arena.run("app").status == ExitStatus.CONFIG  # refused as deploy.conf loads
    arena.check()


# --- deploy.conf values ----------------------------------------------------------------------

VALUES: list[tuple[str, dict[str, str]]] = [
    ("path-substitution", {"path": f"{{root}}/$(touch {C})"}),
    ("path-backticks", {"path": f"{{root}}/`touch {C}`"}),
    ("path-semicolon", {"path": f"{{root}}/x;touch {C}"}),
    ("path-dotdot", {"path": "{root}/../outside"}),
    ("shared-dir-substitution", {"shared": f"$(touch${{IFS}}{C})/"}),
    ("shared-file-semicolon", {"shared": f"x;touch${{IFS}}{C}"}),
    ("shared-dotdot", {"shared": "../outside/"}),
    ("restart-file-substitution", {"restart-file": f"tmp/$(touch${{IFS}}{C})"}),
    ("restart-file-dotdot", {"restart-file": "../../outside/victim.txt"}),
    ("keep-substitution", {"keep": f"1;touch {C}"}),
    ("env-name-substitution", {"env": f"A$(touch${{IFS}}{C})=1"}),
    ("env-value-substitution", {"env": f"A='$$(touch {C})'", "build": 'test -n "$A"'}),
    ("env-value-backticks", {"env": f"A='`touch {C}`'", "build": 'test -n "$A"'}),
    ("env-value-quotes", {"env": f"A=\"'; touch {C}; '\"", "build": 'test -n "$A"'}),
    ("env-value-newline", {"env": f"A='x\n    touch {C}'", "build": 'test -n "$A"'}),
]


@pytest.mark.parametrize("keys", [v[1] for v in VALUES], ids=[v[0] for v in VALUES])
def test_a_hostile_config_value_is_refused_or_taken_literally(
    arena: Arena, keys: dict[str, str]
) -> None:
    arena.p.configure(
        **{k: arena.fill(v.replace("{root}", str(arena.p.root))) for k, v in keys.items()}
    )
    arena.run("app", "setup")
    arena.run("app")
    arena.run("app", "list")
    arena.check()


# --- hosts and users, with a ~/.ssh/config Match exec using %h / %r ---------------------------

HOSTS = [
    f"host = h$(touch {C})",
    f"host = `touch {C}`",
    f"host = h;touch${{IFS}}{C}",
    "host = -oProxyCommand=touch${IFS}" + C,
    f"host = u$(touch${{IFS}}{C})@testhost",
    "host = " + "a" * 64 + ".example.com",
    "host = testhost\nuser = u;touch${IFS}" + C,
    "host = testhost\nuser = -oProxyCommand=x",
]


@pytest.mark.parametrize("host_line", HOSTS)
def test_a_hostile_host_or_user_never_reaches_a_match_exec_line(
    tmp_path: Path, ssh_home: ClientHome, host_line: str
) -> None:
    """Paramiko runs ``Match exec`` through a shell with %h and %r put in: refused before that."""
    with ssh_home.config.open("a") as config:
        config.write('\nMatch exec "test %h = never-%r"\n    Port 1\n')
    project = Project(tmp_path, "host = local")
    arena = Arena(project)
    project.host_line = arena.fill(host_line)
    project.configure()
    assert arena.run("app", "list").status == ExitStatus.CONFIG
    arena.check()


# --- repositories that plant symlinks --------------------------------------------------------


def plant(arena: Arena, links: dict[str, str], files: dict[str, str] | None = None) -> None:
    """Commit symlinks (name -> target, ``{outside}`` expanded) and files to the origin."""
    origin = arena.p.origin
    for name, target in links.items():
        path = origin.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target.replace("{outside}", str(arena.outside)), path)
    arena.p.origin.commit(files or {"VERSION": "planted\n"}, "plant symlinks")


SYMLINKS: list[tuple[str, dict[str, str], dict[str, str]]] = [
    ("revision-to-outside-file", {"REVISION": "{outside}/victim.txt"}, {}),
    ("revision-to-outside-link", {"REVISION": "{outside}/link"}, {}),
    ("tmp-to-outside-default-restart-file", {"tmp": "{outside}/tmp"}, {}),
    ("restart-file-itself-to-outside", {"tmp/restart.txt": "{outside}/victim.txt"}, {}),
    (
        "public-to-outside-with-shared-uploads",
        {"public": "{outside}"},
        {"shared": "public/uploads/"},
    ),
    (
        "shared-file-named-link",
        {"config/db.yml": "{outside}/dir/db.yml"},
        {"shared": "config/db.yml"},
    ),
    ("shared-parent-to-outside", {"config": "{outside}/dir"}, {"shared": "config/db.yml"}),
    ("shared-dir-named-link", {"log": "{outside}/dir"}, {"shared": "log/"}),
]


@pytest.mark.parametrize(("links", "keys"), [s[1:] for s in SYMLINKS], ids=[s[0] for s in SYMLINKS])
def test_a_planted_symlink_never_redirects_a_write_or_a_delete(
    arena: Arena, links: dict[str, str], keys: dict[str, str]
) -> None:
    if keys:
        arena.p.configure(**keys)
        arena.run("app", "setup")
        shared = arena.p.root / "shared"
        for item in keys.get("shared", "").split():
            if not item.endswith("/"):
                (shared / item).parent.mkdir(parents=True, exist_ok=True)
                (shared / item).write_text("from shared\n")
    plant(arena, links)
    arena.run("app")
    arena.run("app", "list")
    arena.check()


# --- a tampered .deploys ---------------------------------------------------------------------

SHA = "0" * 40
TAMPERED = [
    ("release-dotdot", f"{SHA}\t2024-01-01T00:00:00Z\t../../outside\tmain\tx@y\tdeploy\tok"),
    (
        "release-dotdot-victim",
        f"{SHA}\t2024-01-01T00:00:00Z\t../../outside/victim.txt\tmain\tx@y\tdeploy\tok",
    ),
    ("release-absolute", f"{SHA}\t2024-01-01T00:00:00Z\t/etc\tmain\tx@y\tdeploy\tok"),
    (
        "release-absolute-outside",
        f"{SHA}\t2024-01-01T00:00:00Z\t{{outside}}\tmain\tx@y\tdeploy\tok",
    ),
    ("release-substitution", f"{SHA}\t2024-01-01T00:00:00Z\t$(touch {C})\tmain\tx@y\tdeploy\tok"),
    ("release-dash", f"{SHA}\t2024-01-01T00:00:00Z\t-rf\tmain\tx@y\tdeploy\tok"),
    (
        "sha-substitution",
        f"$(touch {C})\t2024-01-01T00:00:00Z\t20240101T000000Z-0000000\tmain\tx@y\tdeploy\tok",
    ),
    (
        "sha-dash",
        f"--upload-pack=touch {C}\t2024-01-01T00:00:00Z\t20240101T000000Z-0000000\tmain\tx@y\tdeploy\tok",
    ),
    ("sha-lone-dash", "-\t2024-01-01T00:00:00Z\t20240101T000000Z-0000000\tmain\tx@y\tdeploy\tok"),
    ("tj-line-substitution", f"$(touch {C})"),
    (
        "ref-substitution",
        f"{SHA}\t2024-01-01T00:00:00Z\t20240101T000000Z-0000000\t$(touch {C})\tx@y\tdeploy\tok",
    ),
    (
        "control-bytes",
        f"{SHA}\t\x1b]0;pwned\x07\t20240101T000000Z-0000000\tmain\x1b[2J\t\x9b31m\u202ex\tdeploy\tok",
    ),
    ("very-long-line", f"{SHA}\t2024\t{'r' * 200_000}\tmain\tx@y\tdeploy\tok"),
]


@pytest.mark.parametrize("line", [t[1] for t in TAMPERED], ids=[t[0] for t in TAMPERED])
def test_a_tampered_history_never_leads_outside_the_releases(arena: Arena, line: str) -> None:
    """An entry just before the live one: ``revert`` and ``previous`` pick it; prune meets it."""
    arena.p.ok("app")
    history = arena.p.root / ".deploys"
    real = history.read_text()
    hostile = arena.fill(line).replace("{outside}", str(arena.outside))
    history.write_text(hostile + "\n" + real)
    for command in (["previous"], ["list"], ["current"], ["revert"]):
        result = arena.run("app", *command)
        assert "\x1b" not in result.stdout + result.stderr
    arena.p.configure(keep="1")
    arena.p.origin.commit({"VERSION": "v2\n"}, "v2")
    arena.run("app")
    arena.run("app", "revert")
    arena.check()


# --- control bytes from the server -----------------------------------------------------------

CONTROL = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eevil"


@pytest.mark.parametrize(
    "keys",
    [
        {"build": f"printf '%s\\n' '{CONTROL}'"},
        {"post-deploy": f"printf '%s\\n' '{CONTROL}' >&2"},
        {"test": f"printf '%s\\n' '{CONTROL}'; exit 1"},
    ],
    ids=["build-output", "post-deploy-stderr", "failing-test-output"],
)
def test_control_bytes_in_hook_output_are_shown_escaped(arena: Arena, keys: dict[str, str]) -> None:
    arena.p.configure(**keys)
    result = arena.run("-v", "app")
    printed = result.stdout + result.stderr
    assert "pwned" in printed
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in printed
    arena.check()


def test_control_bytes_in_history_fields_are_shown_escaped(arena: Arena) -> None:
    arena.p.ok("app")
    history = arena.p.root / ".deploys"
    fields = history.read_text().splitlines()[-1].split("\t")
    fields[3], fields[4] = "main\x1b[2J", "\x1b]0;pwned\x07x@y"
    history.write_text("\t".join(fields) + "\n")
    for command in (["app", "list"], ["app", "current"], ["--json", "app", "list"]):
        result = arena.run(*command)
        printed = result.stdout + result.stderr
        assert "\x1b" not in printed and "\x07" not in printed
    arena.check()
