"""A reader of stdout that goes away early (``pushdeploy ENV list | head -1``) ends pushdeploy
with status 0 and no message, for every command that prints results.

pushdeploy runs as its own process (``python -m pushdeploy``) with stdout a real pipe, against a
real git origin deployed twice to ``host = local``. The test either closes the pipe's read end
before pushdeploy writes (every write then fails), or reads one line and closes it while more is
coming (``head -1`` of a long ``exec`` output).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import Project

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def deployed(tmp_path: Path) -> Project:
    """``[app]`` on ``host = local``, set up and deployed twice (so ``previous`` has an answer)."""
    project = Project(tmp_path, "host = local")
    project.ok("app", "setup")
    project.ok("app")
    project.deploy_new("v2", "app")
    return project


def pushdeploy(project: Project, *words: str, stdout: int) -> subprocess.Popen[bytes]:
    argv = ["-c", str(project.conf), "-C", str(project.base), "app", *words]
    return subprocess.Popen(
        [sys.executable, "-m", "pushdeploy", *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    "words",
    [
        ["list"],
        ["current"],
        ["previous"],
        ["status"],
        ["status", "--json"],
        ["config"],
        ["log"],
        ["log", "1"],
        ["exec", "echo", "hello"],
    ],
    ids=" ".join,
)
def test_a_reader_gone_before_the_first_line_ends_it_with_status_0_and_no_message(
    deployed: Project, words: list[str]
) -> None:
    read, write = os.pipe()
    os.close(read)  # `| head -0`: whatever pushdeploy writes now fails with EPIPE
    try:
        child = pushdeploy(deployed, *words, stdout=write)
    finally:
        os.close(write)
    _, stderr = child.communicate(timeout=60)
    assert (child.returncode, stderr.decode()) == (0, "")


def test_a_reader_gone_after_the_first_line_ends_it_with_status_0_and_no_message(
    deployed: Project,
) -> None:
    """``exec`` passes a long output through; ``head -1`` closes the pipe in the middle of it."""
    child = pushdeploy(deployed, "exec", "seq", "1", "500000", stdout=subprocess.PIPE)
    assert child.stdout is not None
    assert child.stdout.readline() == b"1\n"
    child.stdout.close()
    _, stderr = child.communicate(timeout=60)
    assert (child.returncode, stderr.decode()) == (0, "")


def test_list_cut_after_its_header_ends_with_status_0_and_no_message(deployed: Project) -> None:
    child = pushdeploy(deployed, "list", stdout=subprocess.PIPE)
    assert child.stdout is not None
    assert child.stdout.readline().split()[:1] == [b"release"]  # the header line
    child.stdout.close()
    _, stderr = child.communicate(timeout=60)
    assert (child.returncode, stderr.decode()) == (0, "")
