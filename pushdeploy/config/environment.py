"""The validated settings of one deploy.conf section: ``Environment`` and its frozen sections.

deployconf.py builds them; everything else only reads them. ``Environment`` keeps at its top level
what every command needs (the hosts, the deploy root, the env); the rest lives in one frozen
section per concern (``env.source``, ``env.ssh``, ``env.hooks``, ``env.restart``, ``env.monitor``,
``env.rollout``, ``env.notify``, ``env.watch``), as Kamal's configuration has a class per section.
Each field is fed by one row of keys.KEYS, which names its section (``SECTIONS`` here maps the
name to its class); no field here has a default: ``build_environment`` takes it from the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pushdeploy.config.hosts import Host
from pushdeploy.config.values import BatchSize


@dataclass(frozen=True)
class Setting:
    """One effective value and where it came from (for error messages and ``config``)."""

    value: str
    section: str
    line: int


@dataclass(frozen=True)
class SourceSettings:
    """Where a release comes from: a git repo and ref, or an artifact; and how it is verified."""

    repo: str | None
    ref: str | None
    repo_token: str | None = field(repr=False)  # the token itself, read from $NAME (deployconf)
    artifact: str | None
    artifact_build: str | None
    artifact_sha256: str | None
    verify: str
    allowed_signers: str | None


@dataclass(frozen=True)
class SSHSettings:
    """How to log in where a host does not say: user, port, identity, agent, host keys; and with
    which SSH client."""

    user: str | None
    port: int | None
    key: str | None
    forward_agent: bool
    host_key: str
    client: str  # "paramiko" or "openssh": which SSH client carries the scripts


@dataclass(frozen=True)
class Hooks:
    """The commands run around a setup or a deploy, on the servers or on this machine."""

    pre_setup: str | None
    post_setup: str | None
    pre_deploy_local: str | None
    pre_deploy: str | None
    post_deploy: str | None
    post_deploy_local: str | None
    migrate: str | None
    primary: str | None  # the host that runs migrate
    build: str | None
    test: str | None
    needs_tty: bool


@dataclass(frozen=True)
class RestartSettings:
    """How a new release goes live: the strategy (touch, monitor or a command) and its check."""

    strategy: str
    file: str
    health: str | None
    health_timeout: int


@dataclass(frozen=True)
class MonitorSettings:
    """What the process monitor (restart = monitor) runs, binds and waits for."""

    app: str | None
    workers: int
    listen: tuple[str, ...]
    ready: str
    ready_timeout: int
    heartbeat: str | None
    grace: int


@dataclass(frozen=True)
class Rollout:
    """How a fleet goes live: batches, hosts prepared at once, and etcd turns between watchers."""

    batch: BatchSize | None
    batch_pause: int
    parallel: int
    etcd: str | None
    lease: int
    name: str | None


@dataclass(frozen=True)
class NotifySettings:
    """Who hears of a deploy, and the credentials to tell them with."""

    targets: tuple[tuple[str, tuple[str, ...]], ...]
    secret: str | None = field(repr=False)
    smtp: str
    smtp_user: str | None
    smtp_password: str | None = field(repr=False)
    mail_from: str | None
    github_token: str | None = field(repr=False)
    github_api: str
    github_repo: str | None


@dataclass(frozen=True)
class WatchSettings:
    """How the watcher looks at the source: its interval, its backoff, its webhook secret."""

    interval: int
    backoff: int
    webhook_secret: str | None = field(repr=False)


@dataclass(frozen=True)
class Environment:
    """The validated settings of one section, with inheritance applied. Immutable.

    ``config_file`` is the deploy.conf it came from; ``settings`` the text of each key set there
    (or on the command line), for ``config`` and for messages that name a line.
    """

    name: str
    config_file: str
    hosts: tuple[Host, ...]
    path: str
    shared: tuple[str, ...]
    # The values are secrets as often as not: kept out of repr (tracebacks, debug output).
    env: tuple[tuple[str, str], ...] = field(repr=False)
    secrets_file: str | None
    keep: int
    inherit: str | None  # the section this one names in `inherit` (its own line), if any
    source: SourceSettings
    ssh: SSHSettings
    hooks: Hooks
    restart: RestartSettings
    monitor: MonitorSettings
    rollout: Rollout
    notify: NotifySettings
    watch: WatchSettings
    settings: Mapping[str, Setting] = field(default_factory=dict, compare=False, repr=False)
    # (env name, text) for each piece of an env value that came from outside deploy.conf: a
    # $NAME expansion or a secrets-file value. Hidden everywhere (secrets.py).
    external: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)


# The sections of Environment by name, as keys.KEYS names them.
SECTIONS: Mapping[str, type] = {
    "source": SourceSettings,
    "ssh": SSHSettings,
    "hooks": Hooks,
    "restart": RestartSettings,
    "monitor": MonitorSettings,
    "rollout": Rollout,
    "notify": NotifySettings,
    "watch": WatchSettings,
}
