"""Secrets stay secret on a real server: never on a command line, never in what pushdeploy prints.

Every test uses a fresh random value, so any sighting of it is a leak. The command-line test
reads ``/proc/*/cmdline`` of every process on this machine (the sshd fixture and ``host = local``
both run here) while a deploy holds its hooks at gates the test opens, so the poller is sure to
see the hooks' processes, and proves it did.

A command line that lives a millisecond (``env NAME=value bash`` exec'ing on at once) would slip
between two scans. So with ``host = local`` the programs that could carry values on to another
(``env``, ``bash``, ``sh``, ``nohup``, ``setsid``, ``timeout``, ``sudo``) are found first in a
directory of shims that hold their command line up for 0.2 s, then exec the real program: a
value passed that way is then seen every time. (Over SSH the server's PATH is sshd's own.)
"""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Project, wait_until
from tests.support.cli import Result
from tests.support.clienthome import ClientHome
from tests.support.listeners import MailServer, Receiver

DEADLINE = 90.0
CARRIERS = ["env", "bash", "sh", "nohup", "setsid", "timeout", "sudo"]


def unique() -> str:
    return "s3cr3t" + uuid.uuid4().hex


def held(gate: Path) -> str:
    """Hook text that says it started, then waits (at most 30 s) until the test opens ``gate``."""
    started = gate.with_name(gate.name + ".started")
    return (
        f"touch {str(started)!r}\n"
        f"for i in $(seq 300); do [ -e {str(gate)!r} ] && break; sleep 0.1; done"
    )


class CmdlinePoller:
    """Reads /proc/*/cmdline over and over: every sighting of ``secret``, and of ``marker``."""

    def __init__(self, secret: str, marker: str) -> None:
        self.secret, self.marker = secret.encode(), marker.encode()
        self.leaks: list[str] = []
        self.marker_seen = 0
        self.scans = 0

    def scan(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes()
            except OSError:  # gone meanwhile, or not ours to read
                continue
            if self.secret in cmdline:
                shown = cmdline.replace(self.secret, b"<SECRET>").replace(b"\0", b" ")
                leak = shown.decode(errors="replace")[:300]
                if leak not in self.leaks:
                    self.leaks.append(leak)
            if self.marker in cmdline:
                self.marker_seen += 1
        self.scans += 1

    def watch(self, running: Callable[[], bool]) -> None:
        deadline = time.monotonic() + DEADLINE
        while running() and time.monotonic() < deadline:
            self.scan()


def slow_carriers(shims: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Put shims of CARRIERS first in PATH: each shows its command line for 0.2 s, then execs."""
    shims.mkdir()
    for name in CARRIERS:
        real = shutil.which(name)
        if real is None:
            continue
        shim = shims / name
        shim.write_text(f'#!/bin/sh\nsleep 0.2\nexec {real} "$@"\n')
        shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}:{os.environ['PATH']}")


def test_env_values_never_appear_on_any_command_line_during_a_deploy(
    ready_project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = ready_project
    p.ok("app")  # something live, so that pre-deploy runs (a first deploy skips it)
    if p.host_line == "host = local":
        slow_carriers(tmp_path / "shims", monkeypatch)
    secret = unique()
    gates = {name: tmp_path / f"gate-{name}" for name in ["pre-deploy", "build", "post-deploy"]}
    p.configure(
        env=f"API_TOKEN={secret} PLAIN='{secret} with blanks'",
        pre_deploy=held(gates["pre-deploy"]),
        build=held(gates["build"]),
        post_deploy=held(gates["post-deploy"]),
        test='[ "$API_TOKEN" != "" ]',
    )
    poller = CmdlinePoller(secret, str(tmp_path / "gate-"))
    results: list[Result] = []
    p.origin.commit({"VERSION": "v2\n"}, "v2")
    deploy = threading.Thread(target=lambda: results.append(p.run("app")), daemon=True)
    deploy.start()
    watcher = threading.Thread(target=poller.watch, args=(deploy.is_alive,), daemon=True)
    watcher.start()
    try:
        for gate in gates.values():
            started = gate.with_name(gate.name + ".started")
            wait_until(started.exists, timeout=60, what=f"{gate.name} to start")
            seen = poller.scans
            wait_until(lambda seen=seen: poller.scans >= seen + 20, what="20 scans of /proc")
            gate.touch()
    finally:
        for gate in gates.values():
            gate.touch()
        deploy.join(DEADLINE)
        watcher.join(DEADLINE)
    assert results and results[0].status == 0, results and results[0].stderr
    assert poller.marker_seen > 0, "the poller never saw a hook's process: it proves nothing"
    assert poller.leaks == []


def test_a_failing_deploy_shows_no_secret_in_its_error_output(ready_project: Project) -> None:
    p = ready_project
    secret = unique()
    p.configure(
        env=f"API_TOKEN={secret}",
        build='echo "using token $API_TOKEN" >&2\necho "$API_TOKEN"\nexit 3',
    )
    for flags in [(), ("-v",)]:
        result = p.run(*flags, "app")
        assert result.status == 6, result.stderr
        assert secret not in result.stdout + result.stderr
        assert "using token ***" in result.stderr


def test_config_dry_run_and_systemd_never_show_the_secret(ready_project: Project) -> None:
    p = ready_project
    secret, local = unique(), unique()
    os.environ["PUSHDEPLOY_TEST_LOCAL"] = local
    try:
        p.configure(
            env=f"API_TOKEN={secret} FROM_HERE=$PUSHDEPLOY_TEST_LOCAL MODE=fast",
            app="python3 -m http.server",
            listen="127.0.0.1:1",
        )
        outputs = {
            "config": p.ok("app", "config"),
            "config env": p.ok("app", "config", "env"),
            "--dry-run deploy": p.ok("--dry-run", "app"),
            "--dry-run setup": p.ok("--dry-run", "app", "setup"),
            "--dry-run exec": p.ok("--dry-run", "app", "exec", "true"),
            "systemd --socket": p.ok("app", "systemd", "--socket"),
            "systemd": p.ok("app", "systemd"),
        }
    finally:
        del os.environ["PUSHDEPLOY_TEST_LOCAL"]
    leaks = [
        name
        for name, result in outputs.items()
        if secret in result.stdout + result.stderr or local in result.stdout + result.stderr
    ]
    assert leaks == []
    assert "API_TOKEN=***" in outputs["config"].stdout
    assert "MODE=fast" in outputs["config"].stdout


def test_monitor_json_is_private_after_setup_and_deploy(ready_project: Project) -> None:
    p = ready_project
    secret = unique()
    p.configure(env=f"API_TOKEN={secret}", app="python3 -m http.server", listen="127.0.0.1:1")
    p.ok("app", "setup")
    settings = p.root / ".pushdeploy" / "monitor.json"
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    assert secret in settings.read_text()  # the monitor needs it; only its owner can read it


def test_every_way_out_masks_a_secret_a_real_build_echoed_alike(
    ssh_home: ClientHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An env value of a secret name and a secrets-file value, echoed by a build on a real sshd:
    the terminal, --json, --log-format json, the local logs and every notification (a webhook,
    Slack, Graphite, a GitHub status and a mail, each to a real server on 127.0.0.1) hide both
    as ``***``; none carries either value."""
    token, word = unique(), unique()
    p = Project(tmp_path, f"host = {ssh_home.user}@{ssh_home.host}:{ssh_home.port}")
    p.ok("app", "setup")
    secrets_file = tmp_path / "secrets.env"
    secrets_file.write_text(f"SERVICE_WORD={word}\n")
    secrets_file.chmod(0o600)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GH_TOKEN", "ghp_" + unique())
    with Receiver() as receiver, MailServer(tmp_path) as smtp:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "smtp.crt"))  # the CA mail trusts
        targets = [
            f"{kind} {receiver.url('/' + kind)}" for kind in ("webhook", "slack", "graphite")
        ]
        p.configure(
            env=f"API_TOKEN={token}",
            secrets_file=str(secrets_file),
            build='echo "token=$API_TOKEN word=$SERVICE_WORD"\nexit 3',
            notify="\n".join(["", *targets, "github", "mail ops@example.com"]),
            github_api=receiver.url("/github"),
            github_token="$GH_TOKEN",
            github_repo="acme/app",
            smtp=smtp.address,
        )
        runs = [p.run("-v", "--json", "app"), p.run("--log-format", "json", "app")]
    assert [r.status for r in runs] == [6, 6], runs[0].stderr + runs[1].stderr
    logs = sorted((Path(os.environ["XDG_STATE_HOME"]) / "pushdeploy/logs/app").glob("*-deploy.log"))
    said = {"terminal": runs[0].stderr, "--json": runs[0].stdout, "local log": logs[-2].read_text()}
    said |= {"--log-format json": runs[1].stderr, "its local log": logs[-1].read_text()}
    said["the last line"] = runs[1].stdout
    for i, request in enumerate(receiver.requests):
        event = request.headers.get("x-pushdeploy-event", "")
        starting = event == "started" or "deploying main" in request.body.decode()
        said[f"{request.path} {'start' if starting else 'failure'} {i}"] = request.body.decode()
    for i, mail in enumerate(smtp.messages):
        message = email.message_from_bytes(mail.content, policy=email.policy.default)
        said[f"mail {i}"] = mail.content.decode() + message.get_content()
    status = f"/github/repos/acme/app/statuses/{p.origin.sha('main')}"
    told = sorted(key.rsplit(" ", 1)[0] for key in said if key.startswith(("/", "mail")))
    assert told == sorted(
        [f"/{kind} failure" for kind in ("webhook", "slack", "graphite")] * 2
        + [f"/{kind} start" for kind in ("webhook", "slack")] * 2
        + [f"{status} failure"] * 2
        + ["mail"] * 2
    )
    assert [key for key, text in said.items() if token in text or word in text] == []
    # Wherever the build's line goes, it goes masked (a GitHub status and a start say less).
    shown = [key for key, text in said.items() if "token=*** word=***" in text]
    assert sorted(set(said) - set(shown)) == sorted(
        ["the last line", *(key for key in said if " start " in key or key.startswith(status))]
    )
