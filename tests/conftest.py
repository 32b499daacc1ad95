"""Fixtures for every test: a hermetic environment, and real OpenSSH servers on 127.0.0.1.

* ``hermetic_env`` (autouse): HOME in a fresh directory, no ssh-agent, a throwaway git identity,
  no ``GIT_*`` / ``PUSHDEPLOY_*`` leaking in from the shell (a git hook runs us with ``GIT_DIR``).
* ``sshd``: one server for the whole session (starting one takes ~0.1 s, but many tests use it);
  ``fresh_sshd``: a server of the test's own, for tests that change it (host-key rotation).
* ``ssh_home``: ``$HOME/.ssh`` written for ``sshd`` with the alias ``testhost``.

When a test that used a server fails, the report gets a section with what sshd logged during
that test. Without sshd the server tests skip, except under ``CI``, where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.support.clienthome import ClientHome, write_client_home
from tests.support.sshd import SSHServer, find_sshd

SERVER_FIXTURES = ("sshd", "fresh_sshd")
LOG_OFFSETS = pytest.StashKey[dict[str, int]]()
LOG_LIMIT = 200  # lines of sshd log shown for one failing test

GITCONFIG = """\
[user]
\tname = Pushdeploy Tests
\temail = tests@pushdeploy.invalid
[init]
\tdefaultBranch = main
[protocol "file"]
\tallow = always
"""


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Isolate the test from the developer's shell: returns the fresh HOME."""
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith(("PUSHDEPLOY_", "GIT_", "SSH_")):
            monkeypatch.delenv(name)
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(GITCONFIG, encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local/state"))  # local run logs
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("NO_COLOR", "1")
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):  # rich reads these too
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "120")
    return home


def _start_server(base: Path) -> SSHServer:
    if find_sshd() is None:
        reason = "OpenSSH server not installed (no /usr/sbin/sshd)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the sshd tests", pytrace=False)
        pytest.skip(reason)
    return SSHServer(base).start()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """A running OpenSSH server shared by the session. Do not change it; see ``fresh_sshd``."""
    server = _start_server(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """A running OpenSSH server for this test alone, free to restart or re-key."""
    server = _start_server(tmp_path_factory.mktemp("fresh-sshd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ssh_home(hermetic_env: Path, sshd: SSHServer) -> ClientHome:
    """``$HOME/.ssh`` for ``sshd``: key, known_hosts, and ``Host testhost`` in ``~/.ssh/config``.

    Python clients follow ``$HOME``; OpenSSH's ``ssh`` does not, so give it ``-F ssh_home.config``
    (or use ``ssh_home.ssh_command(...)``).
    """
    return write_client_home(Path(os.environ["HOME"]), sshd, alias="testhost")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    servers = {
        name: server
        for name in SERVER_FIXTURES
        if isinstance(server := getattr(item, "funcargs", {}).get(name), SSHServer)
    }
    offsets = item.stash.setdefault(LOG_OFFSETS, {})
    if report.when == "setup" and report.passed:
        # Only this test's share of a session-wide log is interesting.
        for name, server in servers.items():
            offsets[name] = server.log_size()
    if report.failed:
        for name, server in servers.items():
            lines = server.log_since(offsets.get(name, 0)).splitlines()
            shown = lines[-LOG_LIMIT:]
            cut = f" (last {LOG_LIMIT} of {len(lines)} lines)" if len(lines) > LOG_LIMIT else ""
            report.sections.append(
                (f"{name} log{cut}: {server.log_path}", "\n".join(shown) or "(empty)")
            )
    return report


class TierClock:
    """Sums each tier's test durations (setup, call and teardown: a session server's start counts
    for the test that first needs it) and says them in one line of the terminal summary."""

    TIERS = ("unit", "bash", "integration")

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @staticmethod
    def tier(nodeid: str) -> str:
        parts = nodeid.split("::", 1)[0].split("/")
        return parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        tier = self.tier(report.nodeid)
        self.seconds[tier] = self.seconds.get(tier, 0.0) + report.duration

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        order = [*self.TIERS, *sorted(set(self.seconds) - set(self.TIERS))]
        said = [f"{tier} {self.seconds[tier]:.1f} s" for tier in order if tier in self.seconds]
        if said:
            terminalreporter.write_line(f"tier times: {', '.join(said)}")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(TierClock(), "pushdeploy-tier-clock")


# --- CLI helpers (lead) ---
