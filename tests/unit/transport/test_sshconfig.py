"""ssh_config settings from ``ssh -G``'s output, and the fallback when there is no ``ssh``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pushdeploy.transport import route, ssh, sshconfig
from pushdeploy.transport.sshconfig import Settings

DEFAULTS = "".join(f"identityfile {path}\n" for path in sshconfig.DEFAULT_IDENTITIES)


def test_ssh_g_output_becomes_settings() -> None:
    text = (
        "hostname 10.0.0.7\nuser deployer\nport 2222\nidentityfile ~/.ssh/a\nidentityfile ~/.ssh/b.pub\n"
        "identitiesonly yes\nidentityagent /run/agent.sock\ncertificatefile ~/.ssh/a-cert.pub\n"
        "proxyjump bastion\nuserknownhostsfile /k/one /k/two\nglobalknownhostsfile /dev/null\n"
        "hostkeyalias app-key\nserveraliveinterval 5\nserveralivecountmax 2\nconnecttimeout 7\n"
        "hashknownhosts yes\nstricthostkeychecking accept-new\nproxycommand none\n"
    )
    expected = Settings(
        hostname="10.0.0.7",
        user="deployer",
        port=2222,
        identity_files=("~/.ssh/a", "~/.ssh/b.pub"),
        identities_only=True,
        identity_agent="/run/agent.sock",
        certificate_files=("~/.ssh/a-cert.pub",),
        proxy_jump="bastion",
        user_known_hosts_files=("/k/one", "/k/two"),
        global_known_hosts_files=("/dev/null",),
        host_key_alias="app-key",
        server_alive_interval=5,
        server_alive_count_max=2,
        connect_timeout=7,
        hash_known_hosts=True,
        strict_host_key_checking="accept-new",
    )
    assert expected == Settings.of(sshconfig.parse(text))


def test_server_alive_count_max_0_is_kept_and_unset_is_ssh_s_3() -> None:
    assert Settings.of(sshconfig.parse("serveralivecountmax 0\n")).server_alive_count_max == 0
    assert Settings.of(sshconfig.parse("serveraliveinterval 5\n")).server_alive_count_max == 3


def test_ssh_s_default_identity_files_mean_none_named() -> None:
    assert "identityfile" not in sshconfig.parse(DEFAULTS + "connecttimeout none\n")
    assert Settings.of(sshconfig.parse("connecttimeout none\n")).connect_timeout is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes", "yes"),
        ("true", "yes"),
        ("ask", None),
        ("off", "no"),
        ("no", "no"),
        ("accept-new", "accept-new"),
    ],
)
def test_strict_host_key_checking_is_normalised(value: str, expected: str | None) -> None:
    assert expected == Settings.of({"stricthostkeychecking": value}).strict_host_key_checking


def test_paths_under_the_login_home_are_read_under_home_when_home_differs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sshconfig, "_database_home", lambda: "/home/alice")
    found = sshconfig.parse("userknownhostsfile /home/alice/.ssh/known_hosts /etc/k\n", "/tmp/h")
    assert found["userknownhostsfile"] == "/tmp/h/.ssh/known_hosts /etc/k"


def test_proxycommand_tokens_are_expanded() -> None:
    expected = "nc 10.0.0.7 2222 deployer web 100%"
    assert expected == sshconfig.expand_tokens(
        "nc %h %p %r %n 100%%", "10.0.0.7", 2222, "deployer", "web"
    )


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no OpenSSH client")
def test_a_different_home_passes_its_own_config_to_ssh() -> None:
    """$HOME (a temporary one, here) differs from the login's: ``-F $HOME/.ssh/config``."""
    tmp_path = Path(os.environ["HOME"])
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text(
        f"Include {tmp_path}/.ssh/*.conf\nHost *\n    StrictHostKeyChecking accept-new\n"
    )
    (tmp_path / ".ssh" / "web.conf").write_text("Host web\n    HostName 10.9.8.7\n    Port 2200\n")
    found = route.resolve("web", user="deployer")
    assert (found.host, found.port, found.user) == ("10.9.8.7", 2200, "deployer")
    assert found.settings.strict_host_key_checking == "accept-new"


def test_without_ssh_pushdeploy_s_parser_reads_the_config_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sshconfig, "ssh_binary", lambda: None)
    monkeypatch.setattr(sshconfig, "_NOTED", [])
    ssh_dir = Path(os.environ["HOME"]) / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "config").write_text("Host web\n    HostName 10.9.8.7\n")
    assert route.resolve("web").host == "10.9.8.7"
    said: list[str] = []
    sshconfig.fallback_note(said.append)
    sshconfig.fallback_note(said.append)
    assert len(said) == 1 and "no 'ssh' program found" in said[0]


@pytest.mark.parametrize(
    ("strict", "default", "expected"),
    [("yes", "accept-new", "strict"), ("accept-new", "strict", "accept-new"),
     ("no", "strict", "accept-new"), (None, "strict", "strict")],
)  # fmt: skip
def test_strict_host_key_checking_maps_to_a_host_key_policy(
    strict: str | None, default: str, expected: str
) -> None:
    assert expected == ssh.host_key_policy(strict, default, lambda _: None)
