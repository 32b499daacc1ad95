"""Artifacts and skip-if-live through ``cli.main``, in-process, against pushdeploy.testing.fake.

A local artifact is built, checked and digested here, then sent to each host beside its script;
a host that already serves the identity being deployed changes nothing (unless ``--force``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from pushdeploy.testing.fake import FakeTransport
from pushdeploy.testing.fakehost import SHA
from pushdeploy.transport.seam import Sent
from tests.support import archives
from tests.support.fakefleet import FLEET, NEW, OLD, fleet, host, lives, ran, run

LIVE_SHA = "1" * 40  # what host() puts in each fake's history for its live release


def write_tarball(path: Path, files: dict[str, str]) -> bytes:
    return archives.build(archives.app(files), path).read_bytes()


ARTIFACT = "artifact = dist/app.tar.gz\n"


def test_each_host_receives_the_artifact_once_beside_its_script(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_tarball(base / "dist" / "app.tar.gz", {"VERSION": "1\n"})
    fake = fleet(base, monkeypatch, *(host(n) for n in FLEET), extra=ARTIFACT)
    result = run(base, "app")
    assert result.status == 0, result.stderr
    assert {n: [data] for n in FLEET} == {n: h.received for n, h in fake.hosts.items()}
    assert {n: NEW for n in FLEET} == lives(fake)
    digest = hashlib.sha256(data).hexdigest()
    assert all(f"ARTIFACT_SHA={digest}" in h.scripts[0] for h in fake.hosts.values())


def test_a_failed_upload_stops_that_host_and_the_fleet_before_any_switch(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tarball(base / "dist" / "app.tar.gz", {"VERSION": "1\n"})
    hosts = [host("web1"), host("web2", exits={"upload": 1}), host("web3")]
    fake = fleet(base, monkeypatch, *hosts, extra=ARTIFACT)
    result = run(base, "app")
    assert result.status == 6
    assert "pushdeploy: error: web2: upload failed: the upload failed: no space left (fake)" in (
        result.stderr
    )
    assert {n: OLD for n in FLEET} == lives(fake)


def test_a_host_still_receiving_its_upload_when_another_fails_only_stops(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """web1's upload is still on its way when web2's fails: the stop reaches web1's wait for
    the upload, which stops (as the real guard does), so web2's failure is the one said."""
    write_tarball(base / "dist" / "app.tar.gz", {"VERSION": "1\n"})
    hosts = [host("web1"), host("web2", exits={"upload": 1}), host("web3")]
    fake = fleet(base, monkeypatch, *hosts, extra=ARTIFACT)
    send = FakeTransport.send

    def held(self: FakeTransport, *args: Any, **kwargs: Any) -> Sent:
        if self.host.name == "web1":  # until web3 was stopped: the stop was sent to web1 too
            fake.wait_for("web2 deploy 1", "web3 deploy 80")
        return send(self, *args, **kwargs)

    monkeypatch.setattr(FakeTransport, "send", held)
    result = run(base, "app")
    said = [line for line in result.stderr.splitlines() if "error:" in line]
    expected = ["pushdeploy: error: web2: upload failed: the upload failed: no space left (fake)"]
    assert (6, expected) == (result.status, said)
    assert "1 failed, 2 stopped" in result.stdout
    assert {n: OLD for n in FLEET} == lives(fake)


def test_a_hostile_artifact_is_refused_before_any_connection(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archives.build([archives.Member("/etc/cron.d/evil")], base / "dist" / "app.tar.gz")
    fake = fleet(base, monkeypatch, *(host(n) for n in FLEET), extra=ARTIFACT)
    result = run(base, "app")
    assert result.status == 8
    assert "/etc/cron.d/evil" in result.error_lines[0]
    assert {n: [] for n in FLEET} == ran(fake)


def test_a_missing_artifact_says_how_to_make_one(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1"), extra=ARTIFACT)
    result = run(base, "app")
    assert result.status == 8
    assert result.error_lines[0].endswith("dist/app.tar.gz does not exist")
    assert "artifact-build" in result.stderr


def test_a_fleet_already_on_the_commit_changes_nothing(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, *(host(n, sha=LIVE_SHA) for n in FLEET))
    result = run(base, "app")
    assert result.status == 0, result.stderr
    assert result.stdout.startswith("main (1111111) is live already on 3 hosts: nothing to do")
    assert {n: OLD for n in FLEET} == lives(fake)


def test_force_deploys_what_is_live_again(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fleet(base, monkeypatch, host("web1", sha=LIVE_SHA))
    result = run(base, "--force", "app")
    assert result.status == 0, result.stderr
    assert result.stdout.startswith("deployed main (1111111) to 1 host in ")
    assert {"web1": f"{NEW[:-7]}1111111"} == lives(fake)


def test_only_the_hosts_without_it_deploy(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = [host("web1", sha=LIVE_SHA), host("web2", sha=LIVE_SHA), host("web3", sha=LIVE_SHA)]
    hosts[1].live = ""  # nothing live there
    fake = fleet(base, monkeypatch, *hosts)
    result = run(base, "app")
    assert result.status == 0, result.stderr
    assert "deployed main (1111111) to 1 of 3 hosts in " in result.stdout
    assert [OLD, f"{NEW[:-7]}1111111", OLD] == list(lives(fake).values())


def test_the_fake_default_sha_is_not_what_host_deploys_before(base: Path) -> None:
    """The other handler tests rely on it: their fleets always have something new to deploy."""
    assert LIVE_SHA != SHA
