"""The generated remote scripts: valid bash, every value single-quoted, steps in the right order.

The environments come from real config files in ``tmp_path`` with hostile values everywhere a
user can put one; the only subprocess is ``bash -n``, which parses a script without running it.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

import pushdeploy
from pushdeploy import sources
from pushdeploy.config import deployconf as config
from pushdeploy.config.environment import Environment
from pushdeploy.remote import scripts, service
from pushdeploy.remote import shell as remote_shell
from pushdeploy.remote.history import Entry
from pushdeploy.remote.layout import Layout
from pushdeploy.remote.layout import quote as qpath

q = shlex.quote
PACKAGE = Path(pushdeploy.__file__).parent
SHA = "0123456789abcdef0123456789abcdef01234567"
RUN = scripts.Run(
    token="t0k3n",
    owner="me@laptop (pid 1, since now, running: deploy $(touch pwned))",
    who="me@laptop",
    stamp="20240102T030405Z",
)
TARGET = Entry(SHA, "2024-01-01T00:00:00Z", "20240101T000000Z-0123456", "v1 $(id)", "me@laptop")
LIVE = "20240102T030405Z-89abcde"

PRE_DEPLOY = "echo $HOME; rm -rf /tmp/x"
POST_DEPLOY = "echo \"post\" && touch 'done' `id`"
TEST = "curl -f localhost:3000 || exit 1"
BUILD = "npm ci\necho \"$(whoami)\" > 'built; rm -rf /'"
REPO = "https://git.example.com/o'brien/app $(touch pwned).git"
PATH = "~/my apps/it's here"
RESTART_COMMAND = "sudo systemctl restart 'app; x'"

NASTY = f"""\
[production]
host = deploy@app1
repo = {REPO}
path = {PATH}
pre-deploy = {PRE_DEPLOY}
post-deploy = {POST_DEPLOY}
test = {TEST}
build =
    npm ci
    echo "$(whoami)" > 'built; rm -rf /'
env = A='x y $(id)' B="don't stop" C=plain
shared = logs/ .env it's$(id)
restart-file = tmp/re start.txt
health = /health
"""

VARIANTS = {
    "touch": NASTY,
    "command": NASTY + f"restart = {RESTART_COMMAND}\n",
    "monitor": NASTY + "restart = monitor\napp = python3 app.py\nlisten = 127.0.0.1:3000\n",
}

WRAPPED = ["deploy", "fleet", "revert", "rollback", "setup", "status", "unlock"]
IN_CURRENT = ["exec", "console"]
ALL = WRAPPED + IN_CURRENT


def load(tmp_path: Path, text: str) -> Environment:
    path = tmp_path / "deploy.conf"
    path.write_text(text, encoding="utf-8")
    return config.load(path, "production")


def every_script(env: Environment) -> dict[str, str]:
    return {
        "deploy": scripts.deploy(env, RUN, "main", source=sources.of(env)),
        "fleet": scripts.deploy(env, RUN, "main", fleet=True, source=sources.of(env)),
        "revert": scripts.revert(env, RUN, source=sources.of(env)),
        "rollback": scripts.rollback(env, RUN, LIVE, TARGET.release, source=sources.of(env)),
        "setup": scripts.setup(env, RUN, source=sources.of(env)),
        "status": scripts.status(env, source=sources.of(env)),
        "unlock": scripts.unlock(env, source=sources.of(env)),
        "exec": remote_shell.exec_script(env, ["ls", "-la", "my dir; $(id)"]),
        "console": remote_shell.console_command(env, RUN.token),
    }


def bash_n(text: str) -> str:
    """bash's complaint about ``text`` ("" when it parses)."""
    done = subprocess.run(
        ["bash", "-n"], input=text, capture_output=True, text=True, check=False, timeout=10
    )
    return done.stderr


# Every bash library a script may carry after prelude.sh (the source's, restart.sh, ...).
LIBRARIES = [path.read_text(encoding="utf-8").rstrip("\n") for path in PACKAGE.rglob("*.sh")]


def body(script: str) -> list[str]:
    """The lines after the prelude and the libraries: what this phase does."""
    text = script.split(scripts.PRELUDE.rstrip("\n"), 1)[1]
    for library in LIBRARIES:
        text = text.replace(library, "")
    return text.splitlines()


@pytest.fixture
def nasty(tmp_path: Path) -> Environment:
    return load(tmp_path, VARIANTS["touch"])


@pytest.fixture
def nasty_scripts(nasty: Environment) -> dict[str, str]:
    return every_script(nasty)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_script_is_valid_bash(tmp_path: Path, variant: str) -> None:
    generated = every_script(load(tmp_path, VARIANTS[variant]))
    assert {name: "" for name in ALL} == {name: bash_n(text) for name, text in generated.items()}


def test_the_example_config_gives_valid_bash() -> None:
    example = Path(__file__).resolve().parents[3] / "deploy.conf.example"
    generated = every_script(config.load(example, "production"))
    assert {name: "" for name in ALL} == {name: bash_n(text) for name, text in generated.items()}


USER = ["deploy", "fleet", "revert", "rollback", "setup"]  # the scripts that run user commands
LOCKING = USER


@pytest.mark.parametrize(
    ("value", "present_in"),
    [
        (PRE_DEPLOY, ["deploy", "fleet"]),
        (POST_DEPLOY, ["deploy", "fleet", "revert"]),
        (TEST, ["deploy", "fleet", "revert"]),
        (BUILD, USER),
        (REPO, USER),
        ("x y $(id)", [*USER, "exec"]),
        ("don't stop", [*USER, "exec"]),
        ("tmp/re start.txt", USER),
        ("it's$(id)", USER),
        (RUN.owner, LOCKING),
    ],
)
def test_a_value_appears_only_single_quoted(
    nasty_scripts: dict[str, str], value: str, present_in: list[str]
) -> None:
    """For each script: is ``shlex.quote(value)`` in it, and is the bare value anywhere else?"""
    expected = [(name, name in present_in, False) for name in ALL]
    actual = [
        (name, q(value) in text, value in text.replace(q(value), ""))
        for name, text in nasty_scripts.items()
    ]
    assert expected == actual


@pytest.mark.parametrize(
    ("line", "present_in"),
    [
        (f"P={qpath(PATH)}", WRAPPED),
        (f"REPO={q(REPO)}", USER),
        ("RESTART_FILE='tmp/re start.txt' KEEP_RELEASES=5", USER),
        (f"BUILD={q(BUILD)} NEEDS_TTY=0 SHARED_BESIDE=0", USER),
        ("SHARED_ITEMS=(logs/ .env 'it'\"'\"'s$(id)')", USER),
        ("USER_ENV=(A='x y $(id)' B='don'\"'\"'t stop' C=plain)", USER),
        (f"TOKEN=t0k3n OWNER={q(RUN.owner)} WHO=me@laptop", LOCKING),
        ("TOKEN='' OWNER='' WHO=''", ["status", "unlock"]),
    ],
)
def test_the_header_sets_every_value_quoted(
    nasty_scripts: dict[str, str], line: str, present_in: list[str]
) -> None:
    expected = {name: name in present_in for name in WRAPPED}
    assert expected == {name: f"\n{line}\n" in nasty_scripts[name] for name in WRAPPED}


def test_the_path_never_appears_unquoted(nasty_scripts: dict[str, str]) -> None:
    assert [name for name, text in nasty_scripts.items() if "apps/it's here" in text] == []


@pytest.mark.parametrize(
    ("ref", "line"),
    [
        ("main", "REF=main"),
        ("v1; rm -rf ~", "REF='v1; rm -rf ~'"),
        ("$(id)", "REF='$(id)'"),
        ("a'b", "REF='a'\"'\"'b'"),
        (None, "REF=''"),
    ],
)
def test_the_ref_given_to_prepare_is_quoted(nasty: Environment, ref: str | None, line: str) -> None:
    assert line in scripts.deploy(nasty, RUN, ref, source=sources.of(nasty)).splitlines()


def test_the_pre_deploy_hook_runs_after_the_live_release_is_read_and_before_the_fetch(
    nasty: Environment,
) -> None:
    """prelude.sh ``pre_deploy`` runs it in current, or skips it when nothing is live
    (tests/bash/test_prelude_hooks.py)."""
    lines = body(scripts.deploy(nasty, RUN, "main", source=sources.of(nasty)))
    expected = ["read_live", f"pre_deploy {q(PRE_DEPLOY)}", "fetch"]
    assert positions(lines, *expected) == sorted(positions(lines, *expected))


def test_every_script_is_one_function_run_on_one_line_with_the_input_kept_for_the_guard(
    nasty_scripts: dict[str, str],
) -> None:
    """bash reads the whole last line before main runs, so the guard's fd 3 holds no script."""
    shapes = {
        name: (
            text.split("\n", 1)[1].startswith("main() {\n"),
            text.endswith("}\nmain 3<&0 </dev/null; exit\n"),
        )
        for name, text in nasty_scripts.items()
        if name in WRAPPED
    }
    assert {name: (True, True) for name in WRAPPED} == shapes


@pytest.mark.parametrize("name", ["status", "unlock"])
def test_a_script_that_runs_no_user_command_carries_none_of_their_settings(
    nasty_scripts: dict[str, str], name: str
) -> None:
    """--dry-run ENV list must not print the user's env, build or repo."""
    text = nasty_scripts[name]
    for value in ["x y $(id)", "don't stop", "npm ci", "o'brien"]:
        assert q(value) not in text and value not in text, value
    assert "USER_ENV=();" in text


@pytest.mark.parametrize("name", ["deploy", "fleet", "revert", "rollback", "setup"])
def test_a_script_that_runs_user_commands_carries_their_env(
    nasty_scripts: dict[str, str], name: str
) -> None:
    assert "USER_ENV=(A=" + q("x y $(id)") in nasty_scripts[name]


def test_the_switch_is_logged_and_checked_before_anything_is_pruned(nasty: Environment) -> None:
    lines = body(scripts.deploy(nasty, RUN, "main", source=sources.of(nasty)))
    order = [lines.index(x) for x in ['switch "$ID" deploy', "checked", 'prune "$ID" "$PREV"']]
    assert order == sorted(order)


def test_only_a_fleet_deploy_waits_for_its_word(nasty_scripts: dict[str, str]) -> None:
    """Between its phases a fleet's script says it is prepared and waits for the client's go."""
    fleet, single = body(nasty_scripts["fleet"]), body(nasty_scripts["deploy"])
    assert fleet.index("await_go") < fleet.index('switch "$ID" deploy')
    assert "await_go" not in single and [x for x in fleet if x not in single] == [
        "FLEET=1",
        "await_go",
    ]


def test_each_script_says_first_what_kind_it_is(nasty_scripts: dict[str, str]) -> None:
    kinds = {
        name: text.split("\n", 1)[0] for name, text in nasty_scripts.items() if name in WRAPPED
    }
    assert kinds == {name: f"# pushdeploy {KINDS.get(name, name)}" for name in WRAPPED}


KINDS = {"fleet": "deploy"}


def test_exec_joins_argv_like_ssh_and_quotes_it(nasty: Environment) -> None:
    # One group and no redirection: whatever the client sends after it is the command's stdin.
    current, shared = qpath(Layout(PATH).current), qpath(Layout(PATH).shared)
    expected = remote_shell.unwrapped(
        f"exec_in_current {current} {shared} production 'ls -la my dir; $(id)'"
        " A='x y $(id)' B='don'\"'\"'t stop' C=plain"
    )
    assert expected == remote_shell.exec_script(nasty, ["ls", "-la", "my dir; $(id)"])
    assert expected.endswith("\n}\n")


def test_in_current_changes_to_current_and_exports_the_hook_variables(nasty: Environment) -> None:
    current = qpath(Layout(PATH).current)
    shared = qpath(Layout(PATH).shared)
    expected = (
        f"cd {current}/ 2>/dev/null || "
        "{ echo 'pushdeploy: no current release; deploy first' >&2; exit 127; }; "
        f"export PUSHDEPLOY_ENV=production SHARED={shared} "
        'RELEASE="$(pwd -P)" REVISION="$(cat REVISION 2>/dev/null)" '
        "A='x y $(id)' B='don'\"'\"'t stop' C=plain; "
        "uptime"
    )
    assert expected == remote_shell.in_current(nasty, "uptime")


@pytest.mark.parametrize(
    ("health", "listen", "expected"),
    [
        ("/health", ("127.0.0.1:3000",), "http://127.0.0.1:3000/health"),
        ("/health", (), "http://127.0.0.1:80/health"),
        ("/health", ("0.0.0.0:8080",), "http://127.0.0.1:8080/health"),
        ("/health", ("*:8080",), "http://127.0.0.1:8080/health"),
        ("/health", (":8080",), "http://127.0.0.1:8080/health"),
        ("/health", ("8080",), "http://127.0.0.1:8080/health"),
        ("/health", ("[::]:8080",), "http://[::1]:8080/health"),
        ("/health", ("[::1]:3000",), "http://[::1]:3000/health"),
        ("/health", ("localhost:3000", "127.0.0.1:4000"), "http://localhost:3000/health"),
        ("/health", ("/run/app.sock", "10.0.0.5:3000"), "http://10.0.0.5:3000/health"),
        ("/up?full=1", ("127.0.0.1:3000",), "http://127.0.0.1:3000/up?full=1"),
        ("https://example.com/up", ("127.0.0.1:3000",), "https://example.com/up"),
    ],
)
def test_health_url(health: str, listen: tuple[str, ...], expected: str) -> None:
    assert expected == service.health_url(health, listen)


def positions(lines: list[str], *starts: str) -> list[int]:
    return [next(i for i, line in enumerate(lines) if line.startswith(s)) for s in starts]


ORDER = ["switch ", "hook post-deploy", "restart_by_touch", "hook test", "check_health ", "checked"]
ORDER += ["prune "]


def test_activate_runs_post_deploy_restart_test_health_then_prunes(nasty: Environment) -> None:
    found = positions(body(scripts.deploy(nasty, RUN, "main", source=sources.of(nasty))), *ORDER)
    assert sorted(found) == found


def test_activate_lines_for_each_step(nasty: Environment) -> None:
    lines = body(scripts.deploy(nasty, RUN, "main", source=sources.of(nasty)))
    expected = [
        f'hook post-deploy "$RELEASES/$ID" {q(POST_DEPLOY)} back',
        "restart_by_touch",
        f'hook test "$RELEASES/$ID" {q(TEST)} back',
        'prune "$ID" "$PREV"',
    ]
    assert [True] * len(expected) == [line in lines for line in expected]


def test_revert_reads_the_history_then_waits_for_the_pick_and_goes_live(
    nasty: Environment,
) -> None:
    lines = body(scripts.revert(nasty, RUN, source=sources.of(nasty)))
    expected = [
        "lock_take 0 120",
        "report_history",
        "revert_pick",
        "revert_tj 20240102T030405Z 7",
        "revert_check",
        "rebuild_pruned fetch",
        'switch "$ID" revert',
    ]
    assert positions(lines, *expected) == sorted(positions(lines, *expected))
    found = positions(lines, *ORDER[:-1])
    assert sorted(found) == found


@pytest.mark.parametrize(
    ("variant", "restart"),
    [
        ("touch", ["restart_by_touch"]),
        ("command", [f'hook restart "$RELEASES/$ID" {q(RESTART_COMMAND)} back']),
        ("monitor", [
            f"restart_by_monitor {qpath(Layout(PATH).monitor_zipapp)}"
            f" {qpath(Layout(PATH).monitor_config)} 70 40 6",
        ]),
    ],
)  # fmt: skip
def test_restart_by_touch_command_or_monitor(
    tmp_path: Path, variant: str, restart: list[str]
) -> None:
    lines = body(
        scripts.deploy(
            load(tmp_path, VARIANTS[variant]),
            RUN,
            "main",
            source=sources.of(load(tmp_path, VARIANTS[variant])),
        )
    )
    start = lines.index(restart[-1]) - len(restart) + 1
    assert restart == lines[start : start + len(restart)]


def health_lines(env: Environment) -> list[str]:
    return [
        line
        for line in body(scripts.deploy(env, RUN, "main", source=sources.of(env)))
        if line.startswith("check_health ")
    ]


@pytest.mark.parametrize(
    ("variant", "url"),
    [("touch", "http://127.0.0.1:80/health"), ("monitor", "http://127.0.0.1:3000/health")],
)
def test_a_health_path_is_asked_of_the_first_listen_address(
    tmp_path: Path, variant: str, url: str
) -> None:
    lines = health_lines(load(tmp_path, VARIANTS[variant]))
    assert lines == [f"check_health {url} 30"]


def test_no_tests_removes_only_the_test_hook(tmp_path: Path, nasty: Environment) -> None:
    """-T is the override test = "" (cli.py), through the same path as the file."""
    path = tmp_path / "deploy.conf"
    without_tests = config.load(path, "production", {"test": ""})
    with_tests = scripts.deploy(nasty, RUN, "main", source=sources.of(nasty)).splitlines()
    without = scripts.deploy(
        without_tests, RUN, "main", source=sources.of(without_tests)
    ).splitlines()
    test_line = f'hook test "$RELEASES/$ID" {q(TEST)} back'
    assert [line for line in with_tests if line != test_line] == without


def test_setup_creates_the_shared_directories(nasty: Environment) -> None:
    shell = Layout("$P")
    expected = f'setup_directories "{shell.logs}" "{shell.pids}" shared/logs'
    assert expected in scripts.setup(nasty, RUN, source=sources.of(nasty)).splitlines()


@pytest.mark.parametrize("health", ['http://x/a"b', "http://x/$(touch pwned)", "/`touch pwned`"])
def test_a_health_url_is_data_to_bash(tmp_path: Path, health: str) -> None:
    """The health line, run with ``health`` failing, passes the URL on unchanged and runs nothing
    (prelude.sh's ``check_health``, with ``health`` and ``back`` stubbed)."""
    env = load(tmp_path, NASTY.replace("health = /health", f"health = {health}"))
    url = service.health_url(env.restart.health or "", env.monitor.listen)
    workdir = tmp_path / "run"
    workdir.mkdir()
    stubs = "health() { return 1; }; back() { printf '%s\\n' \"$@\"; }\n"
    stubs += next(line for line in scripts.PRELUDE.splitlines() if line.startswith("check_health"))
    stubs += "\n"
    done = subprocess.run(
        ["bash", "-c", stubs + health_lines(env)[0]],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    expected: tuple[str, str, list[Path]] = ("", f"health\n{url} did not answer in time\n", [])
    assert expected == (
        bash_n(scripts.deploy(env, RUN, "main", source=sources.of(env))),
        done.stdout,
        list(workdir.iterdir()),
    )


def test_the_header_names_every_path_under_the_root_from_the_layout(nasty: Environment) -> None:
    lines = scripts.wrap(nasty, RUN, [], source=sources.of(nasty)).splitlines()
    header_line = next(line for line in lines if line.startswith("REPO_DIR="))
    shell = Layout("$P")
    expected = (
        f'REPO_DIR="{shell.repo}" RELEASES="{shell.releases}" CURRENT="{shell.current}" '
        f'SHARED="{shell.shared}" DEPLOYS="{shell.deploys}" STATE="{shell.state}" L="{shell.lock}" '
        f'RUN_LOGS="{shell.run_logs}" '
        f'NEXT_CURRENT="{shell.next_current}" BACK_CURRENT="{shell.back_current}" '
        f'UPLOADS="{shell.uploads}" ETAGS="{shell.etags}"'
    )
    assert header_line == expected


def test_no_script_writes_a_path_under_the_root_by_hand(nasty_scripts: dict[str, str]) -> None:
    """Paths come from the header's names or from Layout; only scratch names sit beside them."""
    shell = Layout("$P")
    scratch = ('"$P/.current.$$"', '"$P/.repo.tmp"', f'"{shell.logs}"', f'"{shell.pids}"')
    by_hand = {}
    for name in WRAPPED:
        text = "\n".join([*body(nasty_scripts[name]), *LIBRARIES])
        for allowed in scratch:
            text = text.replace(allowed, "")
        by_hand[name] = [line for line in text.splitlines() if "$P/" in line]
    assert by_hand == {name: [] for name in WRAPPED}
