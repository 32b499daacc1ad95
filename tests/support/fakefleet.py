"""The command line in-process against pushdeploy.testing.fake: deploy.conf naming fake hosts, and the
helpers the handler tests share (tests/unit/test_handlers*.py).

``fleet`` writes deploy.conf into ``base`` (the directory pushdeploy works from, ``-C``) and
points every connection pushdeploy opens at the fakes; ``run`` is ``pushdeploy -C base ARGV``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pushdeploy.testing.fake import FakeFleet
from pushdeploy.testing.fakehost import FakeHost
from tests.support.cli import Result, run_cli

OLDER = "20261128T000000Z-1111111"
OLD = "20261129T000000Z-1111111"
NEW = "20261130T074102Z-3f2a9c1"
FLEET = ("web1", "web2", "web3")
# A build and a test, so that a deploy says those steps too (the fake says the steps its config
# has, as the real scripts do: pushdeploy/remote/steps.py).
STEPS = "build = ./bin/build\ntest = ./bin/smoke-test\n"


def host(
    name: str,
    *,
    deployed: tuple[str, ...] = (OLDER, OLD),
    time: str = "t",
    who: str = "me",
    **state: object,
) -> FakeHost:
    """A server live on OLD, with ``deployed`` in its history (OLDER, then OLD)."""
    lines = [f"{'1' * 40}\t{time}\t{r}\tmain\t{who}\tdeploy\tok" for r in deployed]
    return FakeHost(name, **{"live": OLD, "history": lines, **state})  # type: ignore[arg-type]


def fleet(
    base: Path, monkeypatch: pytest.MonkeyPatch, *hosts: FakeHost, extra: str = ""
) -> FakeFleet:
    """deploy.conf naming ``hosts``; every connection pushdeploy opens reaches their fakes."""
    fake = FakeFleet(*hosts)
    monkeypatch.setattr("pushdeploy.transport.open_transport", fake.opener)
    conf = f"[app]\nhost = {' '.join(fake.hosts)}\nrepo = /r\npath = /srv/app\n{STEPS}{extra}"
    (base / "deploy.conf").write_text(conf, "utf-8")
    return fake


def run(base: Path, *argv: str, stdin: bytes = b"") -> Result:
    return run_cli("-C", base, *argv, stdin=stdin)


def timed(text: str) -> str:
    """Durations made N.N, so a line can be compared whole."""
    return re.sub(r"\b\d+\.\d+ s\b", "N.N s", text)


def lives(fake: FakeFleet) -> dict[str, str]:
    return {name: h.live for name, h in fake.hosts.items()}


def ran(fake: FakeFleet) -> dict[str, list[str]]:
    return {name: h.ran for name, h in fake.hosts.items()}
