"""``pushdeploy ENV watch`` as a real process: pushes go live by polling or by webhook, it stops
cleanly on SIGTERM whatever it was doing, and an unreachable origin never stops it."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import re
import shlex
import signal
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Project, wait_until
from tests.support import faults

SECRET = "watch-webhook-secret"


@pytest.fixture
def watchers() -> Iterator[list[faults.CliProcess]]:
    """Every watcher a test starts is killed and reaped after it, whatever happened."""
    started: list[faults.CliProcess] = []
    yield started
    for cli in started:
        cli.close()


def watch(project: Project, watchers: list[faults.CliProcess], *args: str) -> faults.CliProcess:
    cli = faults.CliProcess("-c", project.conf, "-C", project.base, "app", "watch", *args)
    watchers.append(cli)
    return cli


def wait_for(cli: faults.CliProcess, text: str, count: int = 1, timeout: float = 20.0) -> str:
    """The watcher's output once ``text`` is in it ``count`` times; fail at the deadline or if
    the watcher ends first."""
    deadline = time.monotonic() + timeout
    while cli.output.count(text) < count:
        if time.monotonic() > deadline or cli.proc.poll() is not None:
            raise AssertionError(
                f"{text!r} x{count} never showed (exit {cli.proc.poll()}):\n{cli.output}"
            )
        time.sleep(0.02)
    return cli.output


def live_within(project: Project, version: str, timeout: float) -> None:
    version_file = project.root / "current" / "VERSION"

    def live() -> bool:
        return version_file.is_file() and version_file.read_text().strip() == version

    wait_until(live, timeout, f"{version} live")


def test_a_pushed_commit_goes_live_by_polling(
    ready_project: Project, watchers: list[faults.CliProcess]
) -> None:
    ready_project.configure(interval="1", watch_backoff="2")
    cli = watch(ready_project, watchers)
    wait_for(cli, "watch: next look in 1 s")
    assert ready_project.live == "v1"
    ready_project.origin.commit({"VERSION": "v2\n"}, "v2")
    live_within(ready_project, "v2", 15.0)
    wait_for(cli, "watch: next look in 1 s", 2)
    assert [line[5:] for line in ready_project.history()] == [["deploy", "ok"]] * 2
    cli.send(signal.SIGTERM)
    assert cli.wait(10) == 0, cli.output


def post(port: int, headers: dict[str, str], body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/", body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def github(ref: str, delivery: str, secret: str = SECRET) -> tuple[dict[str, str], bytes]:
    body = json.dumps({"ref": ref}).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={signature}",
        "Content-Type": "application/json",
    }, body


def test_a_signed_webhook_deploys_at_once_and_bad_ones_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, watchers: list[faults.CliProcess]
) -> None:
    """interval = 60: polling cannot explain a deploy within seconds."""
    project = Project(tmp_path, "host = local")
    project.ok("app", "setup")
    project.configure(interval="60", webhook_secret="$WATCH_SECRET")
    monkeypatch.setenv("WATCH_SECRET", SECRET)
    cli = watch(project, watchers, "--listen", "127.0.0.1:0")
    found = re.search(
        r"watch: webhooks on http://127\.0\.0\.1:(\d+)/", wait_for(cli, "webhooks on")
    )
    assert found, cli.output
    port = int(found[1])
    wait_for(cli, "watch: next look in 60 s")
    project.origin.commit({"VERSION": "v2\n"}, "v2")
    headers, body = github("refs/heads/main", "d-1")
    unsigned = {k: v for k, v in headers.items() if k != "X-Hub-Signature-256"}
    forged, _ = github("refs/heads/main", "d-2", secret="guessed")
    other_ref = github("refs/heads/dev", "d-3")
    refused = [post(port, unsigned, body), post(port, forged, body), post(port, *other_ref)]
    assert refused == [401, 403, 202]
    assert project.live == "v1"
    assert post(port, headers, body) == 202
    live_within(project, "v2", 10.0)
    assert post(port, headers, body) == 409  # the same delivery again
    wait_for(cli, "watch: next look in 60 s", 2)
    assert [line[5:] for line in project.history()] == [["deploy", "ok"]] * 2
    assert SECRET not in cli.output


def hang_up(port: int, data: bytes, reset: bool = False) -> None:
    """A client that sends ``data`` and closes (with ``reset``: an RST, not a FIN)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_client_that_hangs_up_mid_request_is_one_line_and_the_watcher_serves_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, watchers: list[faults.CliProcess]
) -> None:
    """Half the headers, half a request line, a reset: a line each, no traceback; a signed push
    that follows them deploys."""
    project = Project(tmp_path, "host = local")
    project.ok("app", "setup")
    project.configure(interval="60", webhook_secret="$WATCH_SECRET")
    monkeypatch.setenv("WATCH_SECRET", SECRET)
    cli = watch(project, watchers, "--listen", "127.0.0.1:0")
    found = re.search(r"webhooks on http://127\.0\.0\.1:(\d+)/", wait_for(cli, "webhooks on"))
    assert found, cli.output
    port = int(found[1])
    wait_for(cli, "watch: next look in 60 s")
    half_headers = b"POST / HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nContent-Le"
    for number, (sent, reset) in enumerate(
        [(half_headers, False), (b"POST / HTT", False), (half_headers, True)], 1
    ):
        hang_up(port, sent, reset)
        wait_for(cli, "webhook: ", number)
    project.origin.commit({"VERSION": "v2\n"}, "v2")
    assert post(port, *github("refs/heads/main", "d-1")) == 202
    live_within(project, "v2", 10.0)
    output = wait_for(cli, "webhook: 202 accepted (github, d-1)")
    said = [line for line in output.splitlines() if "webhook: " in line]
    assert [line.split()[:2] for line in said] == [
        ["webhook:", "411"],
        ["webhook:", "400"],
        ["webhook:", "400"],
        ["webhook:", "202"],
    ], output
    assert "Traceback" not in output and "BrokenPipe" not in output


def test_sigterm_while_idle_exits_0_at_once(
    tmp_path: Path, watchers: list[faults.CliProcess]
) -> None:
    project = Project(tmp_path, "host = local", {"interval": "60"})
    project.ok("app", "setup")
    cli = watch(project, watchers)
    wait_for(cli, "watch: next look in")
    started = time.monotonic()
    cli.send(signal.SIGTERM)
    assert (cli.wait(5), cli.output.splitlines()[-1]) == (0, "watch: stopped")
    assert time.monotonic() - started < 2.0


def test_sigterm_during_a_deploy_leaves_nothing_half_done(
    ready_project: Project, watchers: list[faults.CliProcess]
) -> None:
    """The build of v2 waits on a gate that never opens; the watcher is stopped there."""
    project, root = ready_project, ready_project.root
    project.ok("app")
    gate = shlex.quote(str(project.base / "gate"))
    wait = (
        f"end=$((SECONDS + 30)); while [ ! -e {gate} ] && [ $SECONDS -lt $end ]; do sleep 0.1; done"
    )
    project.configure(interval="1", build=f"{wait}; [ -e {gate} ]")
    before = faults.releases(root)
    cli = watch(project, watchers)
    wait_for(cli, "watch: next look in 1 s")  # v1 is live already: nothing to build
    project.origin.commit({"VERSION": "v2\n"}, "v2")
    cli.wait_for_step("build")
    cli.send(signal.SIGTERM)
    assert cli.wait(15) == 130, cli.output
    assert "pushdeploy: error: interrupted" in cli.output
    assert (project.live, faults.releases(root)) == ("v1", before)
    assert faults.record_problems(root) == []
    wait_until(lambda: faults.leftovers(root) == [], 5.0, "the build to be gone")


def test_an_unreachable_origin_warns_and_the_watcher_recovers(
    tmp_path: Path, watchers: list[faults.CliProcess]
) -> None:
    project = Project(tmp_path, "host = local", {"interval": "1", "watch-backoff": "2"})
    project.ok("app", "setup")
    away = tmp_path / "away"
    project.origin.path.rename(away)
    cli = watch(project, watchers)
    wait_for(cli, "pushdeploy: warning: watch: git ls-remote", 2)
    assert cli.proc.poll() is None
    assert "next try in about 2 s" in cli.output
    away.rename(project.origin.path)
    project.origin.commit({"VERSION": "v2\n"}, "v2")
    live_within(project, "v2", 15.0)
    wait_for(cli, "watch: next look in 1 s")
    cli.send(signal.SIGTERM)
    assert cli.wait(10) == 0, cli.output
