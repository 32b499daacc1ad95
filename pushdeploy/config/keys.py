"""The keys deploy.conf understands: name, default, converter and one line of documentation each.

This table is the single source of truth: deployconf.py validates against it and puts each value in
the section of ``Environment`` its key names (``value_of`` reads it back by the key's name),
``pushdeploy ENV config`` prints in its order, and tests check that deploy.conf.example documents
every key in it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pushdeploy.config import credentials
from pushdeploy.config.automation_keys import automation_keys
from pushdeploy.config.hosts import check_user, parse_hosts
from pushdeploy.config.key import Key, in_section
from pushdeploy.config.refs import git_ref
from pushdeploy.config.values import (
    artifact_location,
    batch_size,
    check_heartbeat,
    check_ready,
    env_pairs,
    identity_file,
    one_line,
    one_of,
    parse_bool,
    parse_port,
    path_list,
    positive,
    relative_path,
    remote_path,
    seconds,
    sha256_hex,
    text,
    variable_reference,
    words,
)
from pushdeploy.errors import ConfigError

if TYPE_CHECKING:
    from pushdeploy.config.environment import Environment


KEYS: Mapping[str, Key] = {
    k.name: k
    for k in [
        Key(
            "host",
            parse_hosts,
            "one or more [user@]host[:port], ~/.ssh/config aliases, or 'local'",
            required=True,
            field="hosts",
        ),
        *in_section(
            "ssh",
            Key(
                "user",
                check_user,
                "login user when a host does not name one",
                unset="ssh config or local user",
            ),
            Key(
                "port",
                parse_port,
                "ssh port when a host does not name one",
                unset="ssh config or 22",
            ),
            Key(
                "key",
                identity_file,
                "private key file (identity) to log in with; a .pub names its private half",
                unset="ssh config and agent",
            ),
            Key(
                "forward-agent",
                parse_bool,
                "forward your ssh agent to the server (private repos)",
                "no",
            ),
            Key(
                "host-key",
                one_of("strict", "accept-new"),
                "strict: unknown keys stop; accept-new: record new keys",
                "strict",
            ),
            Key(
                "ssh",
                one_of("paramiko", "openssh"),
                "the SSH client: paramiko (built in) or openssh (the system ssh, multiplexed)",
                "paramiko",
                field="client",
            ),
        ),
        *in_section(
            "source",
            Key(
                "repo",
                one_line,
                "git URL the server fetches from (its mirror lives in path/repo)",
                unset="required, unless artifact is set",
            ),
            Key(
                "repo-token",
                variable_reference,
                "$NAME of a local variable holding an HTTPS token for repo (never the token)",
            ),
            Key(
                "artifact",
                artifact_location,
                "deploy this .tar.gz/.tar.zst/.zip instead of git: a local file or an http(s) URL"
                " ({ref} is the ref)",
            ),
            Key("artifact-build", text, "command run on this machine to build a local artifact"),
            Key(
                "artifact-sha256",
                sha256_hex,
                "the URL artifact's SHA-256",
                unset="URL.sha256, else the server's ETag",
            ),
            Key(
                "verify",
                one_of("none", "signed"),
                "signed: refuse a commit or artifact not signed by a key in allowed-signers",
                "none",
            ),
            Key(
                "allowed-signers",
                one_line,
                "local file of the keys allowed to sign (ssh allowed_signers, or GPG public keys)",
            ),
        ),
        Key("path", remote_path, "absolute deploy root on the server", required=True),
        *in_section(
            "source",
            Key(
                "ref",
                git_ref,
                "branch, tag or SHA to deploy when none is given",
                unset="the newest tag",
            ),
        ),
        *in_section(
            "hooks",
            Key(
                "needs_tty",
                parse_bool,
                "run hooks and builds with a terminal (TJ's ssh -t), through script(1)",
                "no",
                field="needs_tty",
            ),
            Key("pre-setup", text, "hook run by setup in the login directory before it starts"),
            Key("post-setup", text, "hook run by setup in path once it is done"),
            Key(
                "pre-deploy-local",
                text,
                "command run on this machine before any connection; failing stops the deploy",
            ),
            Key("pre-deploy", text, "hook run in the live release before anything changes"),
            Key("post-deploy", text, "hook run in the new release after it went live"),
            Key(
                "migrate",
                text,
                "command run once, on the primary host, in the new release before any switch",
            ),
            Key("primary", one_line, "the host that runs migrate", unset="the first host"),
            Key("test", text, "check run in the new release; failure switches back"),
            Key(
                "build", text, "commands run in the new release before it goes live (one per line)"
            ),
        ),
        *in_section(
            "restart",
            Key(
                "restart-file",
                relative_path,
                "file touched in the release to restart the app",
                "tmp/restart.txt",
                field="file",
            ),
            Key(
                "restart",
                text,
                "touch | monitor | a command that restarts the app",
                "touch",
                field="strategy",
            ),
            Key("health", one_line, "URL or /path checked from the server after the restart"),
            Key("health-timeout", seconds, "seconds the health check may take in all", "30"),
        ),
        Key(
            "shared",
            path_list,
            "paths under path/shared linked into every release (dir/ or file)",
            "",
        ),
        Key("env", env_pairs, "NAME=value pairs exported to hooks, builds and the app", ""),
        Key(
            "secrets-file",
            one_line,
            "local dotenv file (relative to deploy.conf) whose NAME=value lines join env",
        ),
        *in_section(
            "hooks",
            Key(
                "post-deploy-local",
                text,
                "command run on this machine after the deploy, whether it succeeded or failed",
            ),
        ),
        *in_section(
            "rollout",
            Key(
                "batch",
                batch_size,
                "hosts that go live at once (N or N%), each batch checked before the next",
                unset="all hosts at once",
            ),
            Key("batch-pause", seconds, "seconds to wait between batches", "0"),
            Key("parallel", positive, "hosts connected to and prepared at once", "32"),
        ),
        Key("keep", positive, "releases kept on the server", "5"),
        Key("inherit", one_line, "section to take defaults from", field="inherit"),
        *in_section(
            "monitor",
            Key("app", one_line, "command the monitor runs in current (e.g. python3 app.py)"),
            Key("workers", positive, "worker processes the monitor runs", "2"),
            Key("listen", words, "host:port or unix socket paths the monitor binds", ""),
            Key(
                "ready",
                check_ready,
                "how a new worker is ready: accept, or an HTTP /path",
                "accept",
            ),
            Key("ready-timeout", seconds, "seconds a new generation may take to get ready", "30"),
            Key(
                "heartbeat",
                check_heartbeat,
                "HTTP /path [interval [timeout [failures]]] the monitor polls",
            ),
            Key("grace", seconds, "seconds old workers may drain before SIGKILL", "30"),
        ),
        *automation_keys(),
    ]
}
# The keys that name a secret ($NAME): its value is read from the environment, hidden everywhere.
SECRET_KEYS = tuple(key for key, spec in KEYS.items() if spec.convert is variable_reference)


def check_combination(env: Environment, source: str) -> None:
    """Rules that involve more than one key."""
    where = f"{source}: [{env.name}]"
    if not env.source.repo and not env.source.artifact:
        raise ConfigError(
            f"{where} repo: required key is missing",
            f"add 'repo = ...' (a git URL) or 'artifact = ...' (a build artifact) to [{env.name}]",
        )
    if env.source.repo_token:
        try:
            credentials.scope(env.source.repo or "")
        except ConfigError as exc:
            raise ConfigError(f"{where} {exc.message}", exc.hint or None) from None
    if env.source.verify == "signed" and not env.source.allowed_signers:
        raise ConfigError(
            f"{where} verify: 'signed' needs 'allowed-signers'",
            "name a file of the public keys allowed to sign (ssh allowed_signers format, or GPG)",
        )
    if env.restart.strategy == "monitor" and not env.monitor.app:
        raise ConfigError(
            f"{where} restart: 'monitor' needs the 'app' key",
            "set 'app' to the command that runs your app, or use restart = touch",
        )
    primary = env.hooks.primary
    if primary is not None and primary not in {h.spec for h in env.hosts} | {
        h.name for h in env.hosts
    }:
        raise ConfigError(
            f"{where} primary: {primary!r} is not one of the hosts",
            "name one of the section's hosts, as written in 'host'",
        )
    if env.monitor.app and not env.monitor.listen:
        raise ConfigError(f"{where} app: the monitor needs 'listen' (host:port or socket path)")


def value_of(env: Environment, key: str) -> Any:
    """The value of the deploy.conf key ``key`` in ``env``: its field, in the section it names."""
    spec = KEYS[key]
    return getattr(getattr(env, spec.section) if spec.section else env, spec.attr)


def replaced(env: Environment, values: Mapping[str, object]) -> Environment:
    """``env`` with each key of ``values`` given its value there, in whichever section it lives."""
    top: dict[str, object] = {}
    by_section: dict[str, dict[str, object]] = {}
    for key, value in values.items():
        spec = KEYS[key]
        (by_section.setdefault(spec.section, {}) if spec.section else top)[spec.attr] = value
    for section, fields in by_section.items():
        top[section] = dataclasses.replace(getattr(env, section), **fields)
    return dataclasses.replace(env, **top)  # type: ignore[arg-type]
