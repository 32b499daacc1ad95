"""Routes to a host from ~/.ssh/config, resolved as OpenSSH's ``ssh`` resolves them."""

from __future__ import annotations

import getpass
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pushdeploy.errors import ConnectionError
from pushdeploy.transport import route
from pushdeploy.transport.library import paramiko


def resolve(text: str, name: str, **given: Any) -> route.Route:
    return route.resolve(name, config=paramiko.SSHConfig.from_text(text), **given)


ALIAS = """\
Host web
    HostName 10.0.0.7
    Port 2222
    User deployer
    IdentityFile ~/.ssh/web_key
"""


def test_a_host_missing_from_the_config_is_its_own_address_on_port_22_as_the_local_user() -> None:
    found = resolve("", "example.test")
    expected = ("example.test", 22, getpass.getuser(), {}, None, None)
    assert expected == (
        found.host,
        found.port,
        found.user,
        found.connect_kwargs,
        found.jump,
        found.proxy_command,
    )


def test_an_alias_gives_address_port_user_and_identity_file() -> None:
    found = resolve(ALIAS, "web")
    expected = ("10.0.0.7", 2222, "deployer", [str(Path("~/.ssh/web_key").expanduser())])
    assert expected == (found.host, found.port, found.user, found.connect_kwargs["key_filename"])


def test_deploy_conf_user_port_and_key_win_and_its_key_is_offered_first() -> None:
    found = resolve(ALIAS, "web", user="root", port=22, keys=["/keys/deploy"])
    expected = ("root", 22, ["/keys/deploy", str(Path("~/.ssh/web_key").expanduser())])
    assert expected == (found.user, found.port, found.connect_kwargs["key_filename"])


def test_proxyjump_goes_to_the_first_hop_first_as_ssh_dash_j_does() -> None:
    found = resolve("Host target\n    ProxyJump alice@a:2200,b\n", "target")
    expected = [("target", 22), ("b", 22), ("a", 2200)]
    assert expected == [(hop.host, hop.port) for hop in found.hops()]
    assert found.hops()[2].user == "alice"


def test_a_jump_list_replaces_the_later_hops_own_proxyjump() -> None:
    text = "Host target\n    ProxyJump a,b\nHost b\n    ProxyJump elsewhere\n"
    assert [hop.host for hop in resolve(text, "target").hops()] == ["target", "b", "a"]


def test_a_jump_host_does_not_jump_through_itself() -> None:
    """``Host *`` naming a jump host also matches the jump host: it is reached directly."""
    found = resolve("Host *\n    ProxyJump bastion\n", "app1")
    assert [hop.host for hop in found.hops()] == ["app1", "bastion"]


def test_proxyjump_none_means_no_jump() -> None:
    assert resolve("Host x\n    ProxyJump none\n", "x").jump is None


def test_a_proxyjump_loop_is_refused_with_a_hint() -> None:
    text = "Host a\n    ProxyJump b\nHost b\n    ProxyJump c\nHost c\n    ProxyJump a\n"
    with pytest.raises(ConnectionError, match="ProxyJump goes through more than"):
        resolve(text, "a")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("host", (None, "host", None)),
        ("u@host", ("u", "host", None)),
        ("u@host:2200", ("u", "host", 2200)),
        ("[::1]:2200", (None, "::1", 2200)),
        ("u@[fe80::1]", ("u", "fe80::1", None)),
        ("a@b@host:1", ("a@b", "host", 1)),
    ],
)
def test_a_jump_spec_is_user_host_and_port(
    spec: str, expected: tuple[str | None, str, int | None]
) -> None:
    assert expected == route.parse_jump(spec)


def test_a_proxycommand_has_its_tokens_expanded() -> None:
    found = resolve("Host x\n    HostName 10.1.1.1\n    ProxyCommand nc %h %p\n", "x")
    assert found.proxy_command == "nc 10.1.1.1 22"


def test_proxycommand_none_means_none() -> None:
    assert resolve("Host x\n    ProxyCommand none\n", "x").proxy_command is None


def test_a_port_that_is_not_a_number_is_a_connection_error() -> None:
    with pytest.raises(ConnectionError, match="port 'ssh'"):
        resolve("Host x\n    Port ssh\n", "x")


def test_known_hosts_files_are_the_named_ones_that_exist(tmp_path: Path) -> None:
    present = tmp_path / "known"
    present.write_text("")
    text = f"Host x\n    UserKnownHostsFile {present} {tmp_path / 'absent'}\n"
    found = resolve(text, "x").known_hosts_files()
    assert [present] == [p for p in found if p != Path(route.GLOBAL_KNOWN_HOSTS)]


@pytest.mark.parametrize(
    ("port", "expected"), [(22, "example.test"), (2222, "[example.test]:2222")]
)
def test_the_known_hosts_name_carries_a_port_other_than_22(port: int, expected: str) -> None:
    assert expected == resolve("", "example.test", port=port).known_name


def test_the_config_files_are_read_in_order_and_the_first_value_wins(tmp_path: Path) -> None:
    user, system = tmp_path / "config", tmp_path / "ssh_config"
    user.write_text("Host web\n    Port 2222\n")
    system.write_text("Host *\n    Port 22\n    User fromsystem\n")
    config = route.load_config((str(user), str(system), str(tmp_path / "missing")))
    found = route.resolve("web", config=config)
    assert (found.port, found.user) == (2222, "fromsystem")


def python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    return done.stdout


def test_connecting_loads_neither_fabric_nor_invoke() -> None:
    code = (
        "import sys, pushdeploy.transport.ssh; "
        "print(sorted(m for m in ('fabric', 'invoke') if m in sys.modules))"
    )
    assert python(code) == "[]\n"


def test_a_match_exec_line_loads_invoke_when_it_is_met() -> None:
    code = (
        "from pushdeploy.transport import route; "
        "from pushdeploy.transport.library import paramiko; "
        "config = paramiko.SSHConfig.from_text('Match exec true\\n    Port 2200\\n'); "
        "print(route.resolve('x', config=config).port)"
    )
    assert python(code) == "2200\n"
