"""Notifications around real commands, in-process against pushdeploy.testing.fake, told to a real local
HTTP receiver: a deploy's start and end, a failure with its report, a revert, never a dry run."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from tests.support.fakefleet import FLEET, fleet, host, run
from tests.support.listeners import Receiver


@pytest.fixture
def receiver() -> Receiver:
    with Receiver() as server:
        yield server


def events(receiver: Receiver) -> list[str]:
    return [json.loads(r.body)["event"] for r in receiver.on("/hook")]


def test_a_deploy_tells_its_start_and_its_end_signed(
    base: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret-for-hmac")
    extra = f"notify = webhook {receiver.url('/hook')}\nnotify-secret = $HOOK_SECRET\n"
    fleet(base, monkeypatch, *(host(n) for n in FLEET), extra=extra)
    result = run(base, "app")
    assert result.status == 0, result.stderr
    assert events(receiver) == ["started", "deployed"]
    last = receiver.on("/hook")[-1]
    body = json.loads(last.body)
    assert (body["outcome"], len(body["hosts"])) == ("ok", 3)
    signed = hmac.new(b"s3cret-for-hmac", last.body, hashlib.sha256).hexdigest()
    assert last.headers["x-pushdeploy-signature"] == f"sha256={signed}"


def test_a_failed_deploy_is_told_with_its_error(
    base: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    hosts = [host("web1"), host("web2", fail_at={"deploy": "build"}), host("web3")]
    fleet(base, monkeypatch, *hosts, extra=f"notify = webhook {receiver.url('/hook')}\n")
    result = run(base, "app")
    assert result.status == 6
    assert events(receiver) == ["started", "failed"]
    body = json.loads(receiver.on("/hook")[-1].body)
    assert (body["exit_status"], body["outcome"]) == (6, "failed")
    assert "web2: build failed" in body["error"]


def test_a_revert_is_told_and_a_dry_run_is_not(
    base: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    fleet(base, monkeypatch, host("web1"), extra=f"notify = webhook {receiver.url('/hook')}\n")
    assert run(base, "--dry-run", "app").status == 0
    assert events(receiver) == []
    result = run(base, "app", "revert")
    assert result.status == 0, result.stderr
    assert events(receiver) == ["reverted"]


def test_an_unreachable_target_is_a_warning_and_the_deploy_succeeds(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1"), extra="notify = webhook http://127.0.0.1:9/hook\n")
    result = run(base, "app")
    assert result.status == 0
    assert "notify: webhook" in result.stderr
