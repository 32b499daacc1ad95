"""What the OpenSSH transport tells ``ssh``: deploy.conf's settings as options, $HOME's ~/.ssh."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from pushdeploy.config import deployconf as config
from pushdeploy.config.environment import Environment
from pushdeploy.transport import openssh
from pushdeploy.transport.sshconfig import Settings


def env_of(tmp_path: Path, text: str) -> Environment:
    conf = tmp_path / "deploy.conf"
    conf.write_text(f"[app]\n{text}\nrepo = /srv/origin\npath = /srv/app\nssh = openssh\n")
    return config.load(conf, "app")


def option_values(options: list[str]) -> dict[str, str]:
    """``-o Name=value`` pairs as a dict, ``-x value`` flags under ``-x``."""
    found: dict[str, str] = {}
    for flag, value in itertools.pairwise(options):
        if flag == "-o":
            name, _, setting = value.partition("=")
            found[name] = setting
        elif flag in {"-l", "-p", "-i", "-F", "-e"}:
            found[flag] = value
    return found


def test_user_port_and_key_of_deploy_conf_become_options(tmp_path: Path) -> None:
    key = tmp_path / "id_deploy"
    key.write_text("")
    env = env_of(tmp_path, f"host = app1.example.com\nuser = deploy\nport = 2222\nkey = {key}")
    options = option_values(openssh.ssh_options(env, env.hosts[0], "strict", str(key)))
    expected = {"-l": "deploy", "-p": "2222", "-i": str(key), "BatchMode": "yes"}
    assert expected == {k: options.get(k) for k in expected}


def test_a_host_s_own_user_and_port_win_over_the_defaults(tmp_path: Path) -> None:
    env = env_of(tmp_path, "host = ops@app1.example.com:2200\nuser = deploy\nport = 2222")
    options = option_values(openssh.ssh_options(env, env.hosts[0], "strict", None))
    assert (options["-l"], options["-p"], options.get("-i")) == ("ops", "2200", None)


def test_nothing_set_leaves_user_port_and_key_to_ssh_config(tmp_path: Path) -> None:
    env = env_of(tmp_path, "host = app1")
    options = openssh.ssh_options(env, env.hosts[0], "strict", None)
    assert not {"-l", "-p", "-i", "-A"} & set(options)


@pytest.mark.parametrize(("host_key", "strict"), [("strict", "yes"), ("accept-new", "accept-new")])
def test_host_key_becomes_strict_host_key_checking(
    tmp_path: Path, host_key: str, strict: str
) -> None:
    env = env_of(tmp_path, "host = app1")
    options = option_values(openssh.ssh_options(env, env.hosts[0], host_key, None))
    assert strict == options["StrictHostKeyChecking"]


def test_forward_agent_is_dash_a(tmp_path: Path) -> None:
    env = env_of(tmp_path, "host = app1\nforward-agent = yes")
    assert "-A" in openssh.ssh_options(env, env.hosts[0], "strict", None)


def test_a_home_that_is_the_login_s_adds_nothing(tmp_path: Path) -> None:
    assert openssh.home_options(str(tmp_path), str(tmp_path)) == []


def test_another_home_gives_its_config_and_known_hosts(tmp_path: Path) -> None:
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host *\n")
    expected = [
        *("-F", str(tmp_path / ".ssh" / "config")),
        *("-o", f"UserKnownHostsFile={tmp_path / '.ssh' / 'known_hosts'}"),
    ]
    assert expected == openssh.home_options(str(tmp_path), "/root")


def test_another_home_without_a_config_reads_none(tmp_path: Path) -> None:
    assert openssh.home_options(str(tmp_path), "/root")[:2] == ["-F", "none"]


def test_the_ssh_key_defaults_to_paramiko(tmp_path: Path) -> None:
    conf = tmp_path / "deploy.conf"
    conf.write_text("[app]\nhost = app1\nrepo = /srv/origin\npath = /srv/app\n")
    assert config.load(conf, "app").ssh.client == "paramiko"


def test_ssh_config_s_own_connect_timeout_and_server_alive_are_kept(tmp_path: Path) -> None:
    """pushdeploy's dead-link bounds go to ``ssh`` only where ssh_config sets none."""
    env = env_of(tmp_path, "host = app1")
    bounds = {"ConnectTimeout", "ServerAliveInterval", "ServerAliveCountMax"}
    unset = option_values(openssh.ssh_options(env, env.hosts[0], "strict", None))
    own = Settings(connect_timeout=2, server_alive_interval=1, server_alive_count_max=2)
    kept = option_values(openssh.ssh_options(env, env.hosts[0], "strict", None, own))
    assert (bounds <= set(unset), bounds & set(kept)) == (True, set())
