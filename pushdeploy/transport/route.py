"""Where a connection to a host goes: ~/.ssh/config resolved as ``ssh`` resolves it.

A ``Route`` is one hop: the name looked up in ~/.ssh/config (an alias, or the address itself),
the address, port and user it resolves to, the keys to offer, and how the TCP stream reaches it:
directly, through a ProxyCommand, or through the hop before it (ProxyJump). deploy.conf's
``user``, ``port`` and ``key`` win over ~/.ssh/config for the target; ProxyJump hops take theirs
from their ``[user@]host[:port]`` spec, then ~/.ssh/config.

The settings come from ``ssh -G`` where ``ssh`` is installed (sshconfig.py: Include, Match and
all); without it, from Paramiko's parser of ~/.ssh/config, then /etc/ssh/ssh_config (the first
value obtained wins, as in ``ssh``). What is honoured is ``sshconfig.Settings``; here: HostName,
Port, User, IdentityFile, ProxyJump, ProxyCommand, and for known_hosts (login.py)
UserKnownHostsFile, GlobalKnownHostsFile and HostKeyAlias. Fabric used to do this resolution;
pushdeploy now drives Paramiko itself (Fabric and Invoke cost 50 ms of start-up per deploy).
Unlike Fabric, ProxyJump ``a,b`` goes to ``a`` first, as ``ssh -J a,b`` does.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pushdeploy.errors import ConnectionError
from pushdeploy.transport import sshconfig
from pushdeploy.transport.library import lookup, paramiko
from pushdeploy.transport.sockets import SSH_PORT
from pushdeploy.transport.sshconfig import Settings

if TYPE_CHECKING:
    from pushdeploy.config.environment import Environment
    from pushdeploy.config.hosts import Host

SSH_CONFIGS = ("~/.ssh/config", "/etc/ssh/ssh_config")
KNOWN_HOSTS = "~/.ssh/known_hosts"
GLOBAL_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
MAX_HOPS = 8  # a longer ProxyJump chain is a loop (say, "Host *" naming a jump host)


@dataclass
class Route:
    """One hop towards a host; ``jump`` is the hop the connection goes through, if any."""

    name: str  # as written: deploy.conf's host, or a ProxyJump entry
    host: str  # HostName
    port: int
    user: str
    ssh_config: dict[str, Any]
    connect_kwargs: dict[str, Any] = field(default_factory=dict)  # for SSHClient.connect
    proxy_command: str | None = None
    jump: Route | None = None

    def hops(self) -> list[Route]:
        """This hop and every hop before it, the target first."""
        hops = [self]
        while hops[-1].jump is not None:
            hops.append(hops[-1].jump)
        return hops

    @property
    def settings(self) -> Settings:
        return Settings.of(self.ssh_config)

    def known_hosts_files(self) -> list[Path]:
        """The known_hosts files that exist: every UserKnownHostsFile (else ~/.ssh/known_hosts),
        then every GlobalKnownHostsFile (else /etc/ssh/ssh_known_hosts)."""
        settings = self.settings
        files = [Path(p).expanduser() for p in settings.user_known_hosts_files]
        files = files or [Path(KNOWN_HOSTS).expanduser()]
        named = settings.global_known_hosts_files or (GLOBAL_KNOWN_HOSTS,)
        files += [Path(p).expanduser() for p in named]
        return [path for path in dict.fromkeys(files) if path.is_file()]

    def new_keys_file(self) -> Path:
        """Where accept-new records a key: the first UserKnownHostsFile, as ``ssh`` does."""
        named = self.settings.user_known_hosts_files
        return Path(named[0] if named else KNOWN_HOSTS).expanduser()

    @property
    def known_name(self) -> str:
        """The host as known_hosts names it (``ssh-keygen -R`` takes this): HostKeyAlias, as is,
        when one is set."""
        alias = self.settings.host_key_alias
        if alias:
            return alias
        return self.host if self.port == SSH_PORT else f"[{self.host}]:{self.port}"


def load_config(paths: tuple[str, ...] = SSH_CONFIGS) -> paramiko.SSHConfig:
    """The ssh_config files that exist, parsed in order into one config."""
    config = paramiko.SSHConfig()
    for name in paths:
        path = Path(name).expanduser()
        if path.is_file():
            with path.open(encoding="utf-8", errors="replace") as fh:
                config.parse(fh)
    return config


def resolve(
    name: str,
    *,
    user: str | None = None,
    port: int | None = None,
    keys: list[str] | None = None,
    config: paramiko.SSHConfig | None = None,
    via: Route | None = None,
    depth: int = 0,
) -> Route:
    """The route to ``name``: explicit ``user``/``port``/``keys`` first, then ~/.ssh/config.

    ``via``: the hop before this one in a ProxyJump list, which replaces its own ProxyJump or
    ProxyCommand (as ``ssh -J`` does). ``config``: Paramiko's parser's, else ``ssh -G``'s
    answer (sshconfig.py), else, with no ``ssh`` installed, Paramiko's parser's of the files.
    """
    found: dict[str, Any] | None = None
    if config is None:
        try:
            found = sshconfig.resolved(name, user, port)
        except ValueError as exc:
            raise ConnectionError(f"{name}: cannot read ~/.ssh/config: {exc}") from None
        config = load_config() if found is None else None
    try:
        if found is None:
            assert config is not None
            found = dict(lookup(config, name))
    except ImportError as exc:
        raise ConnectionError(
            f"{name}: ~/.ssh/config has a 'Match exec' line, which needs Invoke: {exc}",
            "install it next to pushdeploy (pip install invoke), or drop the Match exec line",
        ) from None
    except (paramiko.SSHException, ValueError) as exc:
        raise ConnectionError(f"{name}: cannot read ~/.ssh/config: {exc}") from None
    host = str(found.get("hostname") or name)
    route = Route(
        name=name,
        host=host,
        port=port or _port(found.get("port"), name),
        user=user or str(found.get("user") or getpass.getuser()),
        ssh_config=found,
    )
    named = [*(keys or []), *found.get("identityfile", [])]
    if named:
        route.connect_kwargs["key_filename"] = [os.path.expanduser(str(k)) for k in named]
    jumps = [
        hop
        for hop in str(found.get("proxyjump") or "").split(",")
        if hop.strip() and hop.strip().lower() != "none"
    ]
    if via is not None:
        route.jump = via
    elif jumps:
        route.jump = _jump_chain(jumps, route, config, depth)
    elif found.get("proxycommand"):
        command = str(found["proxycommand"])
        if config is None:  # ssh -G leaves its tokens to ssh
            command = sshconfig.expand_tokens(command, host, route.port, route.user, name)
        route.proxy_command = command
    return route


def target(
    env: Environment,
    host: Host,
    keys: list[str] | None = None,
    config: paramiko.SSHConfig | None = None,
) -> Route:
    """The route to one of ``env``'s hosts: its own ``user@`` and ``:port``, then deploy.conf's
    ``user`` and ``port``, then ~/.ssh/config (the login user ``systemd`` writes is this one's)."""
    user, port = host.user or env.ssh.user, host.port or env.ssh.port
    return resolve(host.name, user=user, port=port, keys=keys, config=config)


def _jump_chain(specs: list[str], target: Route, config: Any, depth: int) -> Route | None:
    """The last ProxyJump entry, reached through the ones before it (the first goes first)."""
    previous: Route | None = None
    for spec in specs:
        user, host, port = parse_jump(spec.strip())
        if host in (target.name, target.host):
            return previous  # naming itself (a "Host *" ProxyJump seen from the jump host)
        if depth + 1 >= MAX_HOPS:
            raise ConnectionError(
                f"{target.name}: ProxyJump goes through more than {MAX_HOPS} hosts (a loop?)",
                "check ProxyJump in ~/.ssh/config",
            )
        previous = resolve(host, user=user, port=port, config=config, via=previous, depth=depth + 1)
    return previous


def parse_jump(spec: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` (``[v6]:port`` too) as (user, host, port)."""
    user, _, rest = spec.rpartition("@")
    port: str | None = None
    if rest.startswith("["):
        host, _, after = rest[1:].partition("]")
        port = after[1:] if after.startswith(":") else None
    elif rest.count(":") == 1:
        host, port = rest.split(":")
    else:
        host = rest
    return user or None, host, _port(port, spec) if port else None


def _port(value: Any, name: str) -> int:
    if value in (None, ""):
        return SSH_PORT
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConnectionError(f"{name}: ~/.ssh/config gives it port {value!r}") from None
