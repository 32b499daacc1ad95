"""Hostile deploy.conf texts and command lines, in-process and with no server: never a traceback.

Each case runs the CLI (``--dry-run`` or a command that fails before connecting) and must end
with a documented exit status (never 1, the "internal error" status), print no traceback and
create no canary file: a payload that ran would ``touch`` the canary.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pushdeploy.errors import ExitStatus
from tests.support.cli import run_cli

DOCUMENTED = {int(s) for s in ExitStatus} - {ExitStatus.ERROR}
MB = 1_000_000
BASE = {"host": "local", "repo": "/srv/git/app.git", "path": "/srv/app"}


def conf(**keys: str) -> str:
    """``[app]`` with the base keys, ``keys`` on top (underscores become dashes)."""
    merged = {**BASE, **{k.replace("_", "-"): v for k, v in keys.items()}}
    return "[app]\n" + "".join(f"{k} = {v}\n" for k, v in merged.items())


# (case id, deploy.conf text ({canary} is the canary's path), arguments after the options)
CASES: list[tuple[str, str, list[str]]] = [
    ("host-command-substitution", conf(host="h$(touch {canary})"), ["app", "list"]),
    ("host-backticks", conf(host="`touch {canary}`"), ["app", "list"]),
    ("host-semicolon", conf(host="h;touch {canary}"), ["app", "list"]),
    ("host-pipe", conf(host="h|touch {canary}"), ["app", "list"]),
    ("host-leading-dash", conf(host="-oProxyCommand=touch%20{canary}"), ["app", "list"]),
    ("host-long-label", conf(host="a" * 64 + ".example.com"), ["app", "list"]),
    ("host-very-long-label", conf(host="a" * 5000), ["app", "list"]),
    ("host-long-name", conf(host=".".join(["abc"] * 70)), ["app", "list"]),
    ("host-empty-label", conf(host="a..example.com"), ["app", "list"]),
    ("host-control-bytes", conf(host="a\x1b]0;x\x07b"), ["app", "list"]),
    ("host-bidi-override", conf(host="ab\u202ec"), ["app", "list"]),
    ("host-non-ascii", conf(host="bücher.example"), ["app", "list"]),
    ("host-bad-ipv6", conf(host="[1:2:3]:22"), ["app", "list"]),
    ("host-huge-port", conf(host="h:" + "9" * 10_000), ["app", "list"]),
    ("host-1mb", conf(host="h" * MB), ["app", "list"]),
    ("host-1mb-of-hosts", conf(host=" ".join(f"h{i}" for i in range(MB // 8))), ["app", "config"]),
    ("host-user-metachar", conf(host="u$(touch {canary})@h"), ["app", "list"]),
    ("host-user-dash", conf(host="-oProxyCommand=x@h"), ["app", "list"]),
    ("user-key-metachar", conf(host="h", user="d;touch {canary}"), ["app", "list"]),
    ("user-key-dash", conf(host="h", user="-oProxyCommand=touch"), ["app", "list"]),
    ("user-key-1mb", conf(host="h", user="u" * MB), ["app", "list"]),
    ("ref-key-substitution", conf(ref="$(touch {canary})"), ["--dry-run", "app"]),
    ("ref-key-option", conf(ref="--upload-pack=touch {canary}"), ["--dry-run", "app"]),
    ("ref-key-1mb", conf(ref="r" * MB), ["--dry-run", "app"]),
    ("ref-arg-substitution", conf(), ["--dry-run", "app", "deploy", "$(touch {canary})"]),
    ("ref-arg-backticks", conf(), ["--dry-run", "app", "deploy", "`touch {canary}`"]),
    ("ref-arg-newline", conf(), ["--dry-run", "app", "deploy", "main\ntouch {canary}"]),
    ("ref-arg-option", conf(), ["--dry-run", "app", "--upload-pack=touch {canary}"]),
    ("ref-arg-dash", conf(), ["--dry-run", "app", "deploy", "-x"]),
    ("ref-arg-1mb", conf(), ["--dry-run", "app", "deploy", "r" * MB]),
    ("path-relative", conf(path="srv/app"), ["--dry-run", "app", "list"]),
    ("path-dotdot", conf(path="/srv/app/../../etc"), ["--dry-run", "app", "list"]),
    ("path-substitution", conf(path="/srv/$(touch {canary})"), ["--dry-run", "app", "list"]),
    ("path-1mb", conf(path="/" + "p" * MB), ["--dry-run", "app", "list"]),
    ("shared-dotdot", conf(shared="../../etc/"), ["--dry-run", "app", "setup"]),
    ("shared-absolute", conf(shared="/etc/passwd"), ["--dry-run", "app", "setup"]),
    ("shared-1mb", conf(shared="a/ " * (MB // 3)), ["app", "config", "shared"]),
    ("restart-file-absolute", conf(restart_file="/etc/passwd"), ["--dry-run", "app"]),
    ("restart-file-dotdot", conf(restart_file="../../x"), ["--dry-run", "app"]),
    ("keep-negative", conf(keep="-1"), ["--dry-run", "app"]),
    ("keep-1mb-digits", conf(keep="9" * MB), ["--dry-run", "app"]),
    ("env-bad-name", conf(env="A-B=1"), ["--dry-run", "app"]),
    ("env-unclosed-quote", conf(env="A='x"), ["--dry-run", "app"]),
    ("env-name-substitution", conf(env="$(touch {canary})=1"), ["--dry-run", "app"]),
    ("env-value-substitution", conf(env="A='$(touch {canary})'"), ["--dry-run", "app"]),
    ("env-100kb", conf(env="A=" + "x" * (MB // 10)), ["--dry-run", "app"]),
    ("env-many-pairs", conf(env=" ".join(f"N{i}=v" for i in range(MB // 16))), ["app", "config"]),
    ("build-1mb", conf(build="echo " + "x" * MB), ["--dry-run", "app"]),
    ("heartbeat-garbage", conf(heartbeat="x y z w v"), ["--dry-run", "app"]),
    ("unknown-key-1mb", "[app]\n" + "k" * MB + " = 1\n", ["app", "list"]),
    ("section-1mb", "[" + "s" * MB + "]\nhost = local\n", ["app", "list"]),
    ("section-missing-1mb-name", conf(), ["s" * MB, "list"]),
    ("inherit-cycle", "[a]\ninherit = b\n[b]\ninherit = a\n", ["a", "list"]),
    ("nul-byte", conf(build="echo \0"), ["--dry-run", "app"]),
    ("one-line-of-1mb", "x" * MB, ["app", "list"]),
    ("only-continuations", "[app]\n" + "  x\n" * 10_000, ["app", "list"]),
    ("host-arg-metachar", conf(), ["-H", "h;touch {canary}", "app", "list"]),
    ("host-arg-control-bytes", conf(), ["-H", "\x1b[2J", "app", "list"]),
    ("host-arg-dash", conf(), ["-H", "-oProxyCommand=touch {canary}", "app", "list"]),
    ("wait-negative", conf(), ["--wait", "-1", "app", "list"]),
    ("revert-not-a-number", conf(), ["--dry-run", "app", "revert", "$(touch {canary})"]),
    ("config-unknown-key", conf(), ["app", "config", "\x1b[2J"]),
    ("exec-nothing", conf(), ["--dry-run", "app", "exec"]),
    (
        "monitor-bad-option",
        conf(app="python3 a.py", listen="127.0.0.1:8000"),
        ["app", "monitor", "status", "--x"],
    ),
    (
        "systemd-section-with-blanks",
        "[my app]\nhost = local\nrepo = /r\npath = /srv/app\napp = python3 a.py\nlisten = 127.0.0.1:8000\n",
        ["my app", "systemd"],
    ),
    (
        "systemd-section-with-substitution",
        "[$(touch {canary})]\nhost = local\nrepo = /r\npath = /srv/app\napp = a\nlisten = 127.0.0.1:1\n",
        ["$(touch {canary})", "systemd"],
    ),
]


@pytest.mark.parametrize(("text", "argv"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_ends_with_a_documented_status_and_one_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, argv: list[str]
) -> None:
    canary = tmp_path / "CANARY"
    config = tmp_path / "deploy.conf"
    config.write_text(text.replace("{canary}", str(canary)), encoding="utf-8")
    args = [a.replace("{canary}", str(canary)) for a in argv]
    result = run_cli("-c", config, "-C", tmp_path, *args)
    printed = result.stdout + result.stderr + "".join(capsys.readouterr())
    assert result.status in DOCUMENTED, f"exit {result.status}\n{result.stderr[-2000:]}"
    assert "internal error" not in printed
    assert "Traceback" not in printed
    assert not canary.exists()
    if result.status:
        assert len(result.error_lines) == 1, result.stderr[-2000:]
        assert len(result.error_lines[0]) < 2000, "an error echoes a whole hostile value"


def test_a_failing_proxycommand_is_one_error_line_exit_4_and_no_paramiko_traceback(
    tmp_path: Path, hermetic_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Paramiko's transport thread logs its traceback; nothing of it may reach the terminal."""
    ssh = hermetic_env / ".ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "config").write_text(
        "Host viaproxy\n    ProxyCommand sh -c 'echo proxy says no >&2; exit 3'\n"
        "Host deadproxy\n    ProxyCommand /nonexistent/proxy %h %p\n"
    )
    for host, says in [("viaproxy", "exited with status 3: proxy says no"), ("deadproxy", "")]:
        config = tmp_path / "deploy.conf"
        config.write_text(conf(host=host))
        result = run_cli("-c", config, "app", "list")
        printed = result.stdout + result.stderr + "".join(capsys.readouterr())
        assert result.status == ExitStatus.CONNECTION, result.stderr
        assert len(result.error_lines) == 1
        assert "ProxyCommand" in result.error_lines[0]
        assert says in result.error_lines[0]
        assert "Traceback" not in printed
        assert "Exception (client)" not in printed


def test_a_match_exec_line_never_sees_a_hostile_host(
    tmp_path: Path, hermetic_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``Match exec`` runs through a shell with %h substituted: the host is refused first."""
    canary = tmp_path / "CANARY"
    ssh = hermetic_env / ".ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "config").write_text('Match exec "echo %h %r >/dev/null"\n    Port 1\n')
    for host in [f"h$(touch {canary})", f"h`touch {canary}`", f"u;touch {canary}@h"]:
        config = tmp_path / "deploy.conf"
        config.write_text(conf(host=host))
        result = run_cli("-c", config, "app", "list")
        assert result.status == ExitStatus.CONFIG, result.stderr
        assert not canary.exists()
