"""The validated settings of one deploy.conf section (``Environment``), and where a value came from.

config.py builds them (and re-exports both names); everything else only reads them.
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
class Environment:
    """The validated settings of one section, with inheritance applied. Immutable.

    Every key's field is set by ``build_environment``, from the file or from the key's default
    in keys.KEYS (so no default is written here).
    """

    name: str
    source: str
    hosts: tuple[Host, ...]
    repo: str | None
    path: str
    user: str | None
    port: int | None
    key: str | None
    forward_agent: bool
    host_key: str
    ref: str | None
    repo_token: str | None = field(repr=False)  # the token itself, read from $NAME (config.load)
    artifact: str | None
    artifact_build: str | None
    artifact_sha256: str | None
    verify: str
    allowed_signers: str | None
    needs_tty: bool
    pre_setup: str | None
    post_setup: str | None
    pre_deploy_local: str | None
    pre_deploy: str | None
    post_deploy: str | None
    migrate: str | None
    primary: str | None
    test: str | None
    build: str | None
    restart_file: str
    restart: str
    health: str | None
    health_timeout: int
    shared: tuple[str, ...]
    # The values are secrets as often as not: kept out of repr (tracebacks, debug output).
    env: tuple[tuple[str, str], ...] = field(repr=False)
    secrets_file: str | None
    post_deploy_local: str | None
    batch: BatchSize | None
    batch_pause: int
    parallel: int
    keep: int
    app: str | None
    workers: int
    listen: tuple[str, ...]
    ready: str
    ready_timeout: int
    heartbeat: str | None
    grace: int
    notify: tuple[tuple[str, tuple[str, ...]], ...]
    notify_secret: str | None = field(repr=False)
    smtp: str
    smtp_user: str | None
    smtp_password: str | None = field(repr=False)
    mail_from: str | None
    github_token: str | None = field(repr=False)
    github_api: str
    github_repo: str | None
    interval: int
    watch_backoff: int
    webhook_secret: str | None = field(repr=False)
    rollout: str | None
    rollout_lease: int
    rollout_name: str | None
    settings: Mapping[str, Setting] = field(default_factory=dict, compare=False, repr=False)
    # (env name, text) for each piece of an env value that came from outside deploy.conf: a
    # $NAME expansion or a secrets-file value. Hidden everywhere (secrets.py).
    external: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)
