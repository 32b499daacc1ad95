"""A connection cut at any byte, from the login to the channel's close, is exit 4 (issue 18).

Each test measures the bytes a whole run takes through a ``FaultProxy`` in front of a real sshd,
then runs it again and again with the connection cut after ``n`` bytes (both ways counted):
byte by byte through the greeting, every hundred-odd bytes through the login and the channel's
opening, spread over the whole run, every few bytes through its last 300 (the script's end,
its exit status, the channel's close) and byte by byte through the last dozen. Every run ends in exit 4 with one ``pushdeploy: error:`` line naming
the host and no traceback, or in exit 0 with its whole result: a cut after the script's end was
received, or a cut of the connection dialed ahead, which is then dialed again (sockets.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Project
from tests.support.cli import Result
from tests.support.clienthome import write_client_home
from tests.support.faultproxy import FaultProxy
from tests.support.sshd import SSHServer

pytestmark = pytest.mark.sshd


@pytest.fixture
def cut_project(tmp_path: Path, sshd: SSHServer) -> Iterator[tuple[Project, FaultProxy]]:
    """A set-up project whose one host is the shared sshd, reached through a fault proxy."""
    with FaultProxy(sshd.host, sshd.port, lifetime=120) as proxy:
        home = write_client_home(Path(os.environ["HOME"]), sshd, port=proxy.port)
        project = Project(
            tmp_path, f"host = {home.user}@{proxy.host}:{proxy.port}\nkey = {home.key}"
        )
        project.ok("app", "setup")
        yield project, proxy


def offsets(total: int) -> list[int]:
    """Where to cut a run of ``total`` bytes (see the module docstring)."""
    greeting = range(0, 12)
    login = range(12, min(4000, total), 131)
    spread = range(0, total, max(1, total // 20))
    close = range(max(0, total - 300), total - 12, 6)  # the end, its status, the close
    last = range(max(0, total - 12), total + 1)
    return sorted({*greeting, *login, *spread, *close, *last})


def sweep(proxy: FaultProxy, run: Callable[[], Result], whole: Callable[[Result], bool]) -> None:
    """Measure one ``run``, then cut it at each of ``offsets``; report every bad ending at once."""
    before = proxy.total
    assert whole(run()), "the run without a cut failed"
    total = proxy.total - before
    problems = []
    for offset in offsets(total):
        proxy.cut_after(offset)
        result = run()
        proxy.heal()
        said = f"cut after {offset} of {total} bytes: exit {result.status}"
        if "Traceback" in result.stderr:
            problems.append(f"{said}, a traceback:\n{result.stderr}")
        elif result.status == 0 and not whole(result):
            problems.append(f"{said}, but its result is not whole:\n{result.stdout}")
        elif result.status not in {0, 4}:
            problems.append(f"{said}, not 4:\n{result.stderr}")
        elif result.status == 4 and (
            len(result.error_lines) != 1 or str(proxy.port) not in result.error_lines[0]
        ):
            problems.append(f"{said}, but not one error line naming the host:\n{result.stderr}")
    assert not problems, "\n".join(problems)


def test_a_cut_anywhere_in_a_status_run_is_exit_4_or_its_whole_report(
    cut_project: tuple[Project, FaultProxy],
) -> None:
    project, proxy = cut_project
    project.ok("app")
    release = project.live_release
    sweep(
        proxy,
        lambda: project.run("app", "status"),
        lambda result: result.status == 0 and release in result.stdout,
    )


def test_a_cut_anywhere_in_a_deploy_is_exit_4_or_a_deploy_that_went_live(
    cut_project: tuple[Project, FaultProxy],
) -> None:
    """--force: every run builds a release; --wait: a cut run's server may still be cleaning
    up when the next one comes."""
    project, proxy = cut_project

    def went_live(result: Result) -> bool:
        return result.status == 0 and result.stdout.startswith("deployed ") and project.live == "v1"

    sweep(proxy, lambda: project.run("app", "--force", "--wait", "5"), went_live)
