"""Notifications around a real deploy over a real sshd: a target that never answers costs the
deploy at most notify.GIVE_UP seconds after its end, start and end notices together."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pushdeploy.notify.announce import GIVE_UP, TIMEOUT
from tests.integration.conftest import Project
from tests.support.clienthome import ClientHome
from tests.support.listeners import silent_port


def test_a_target_that_never_answers_holds_the_deploy_at_most_give_up_seconds(
    ssh_home: ClientHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both notices of a deploy (its start, sent while it runs, and its end) go to two targets
    that take the connection and never say a byte; the run ends within GIVE_UP (11) seconds of
    the hosts' end, and says each silence once."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    p = Project(tmp_path, f"host = {ssh_home.user}@{ssh_home.host}:{ssh_home.port}")
    p.ok("app", "setup")
    with silent_port() as port:
        url = f"http://127.0.0.1:{port}/hook"
        p.configure(notify=f"\nwebhook {url}\nslack {url}")
        result = p.run("--log-format", "json", "app")
        ended = datetime.now(UTC)
    assert result.status == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]
    (host_done,) = [e for e in events if e["event"] == "host_done"]
    hosts_ended = datetime.strptime(host_done["time"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert (ended - hosts_ended).total_seconds() < GIVE_UP
    silence = f"no answer within {TIMEOUT:g} s from http://127.0.0.1:{port}/..."
    warnings = sorted(e["message"] for e in events if e["event"] == "warning")
    assert warnings == sorted(
        f"notify: {kind}: {start}{silence}"
        for kind in ("webhook", "slack")
        for start in ("", "start notice: ")
    )
