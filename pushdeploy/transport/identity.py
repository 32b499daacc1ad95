"""Which private keys a login offers, as OpenSSH's ``ssh`` would choose them.

The sources are deploy.conf's ``key`` and ~/.ssh/config's IdentityFile and IdentitiesOnly.

Left alone, Paramiko differs from ``ssh`` in two ways that bite a new user:

* a key file that does not exist escapes ``SSHClient.connect`` as ``FileNotFoundError``, which
  reads as "cannot connect ...: No such file or directory"; ``ssh`` skips a missing IdentityFile
  (and says so under ``-v``). Here deploy.conf's ``key`` must exist (exit 3, before connecting:
  it is pushdeploy's own setting); a missing IdentityFile is skipped, and named by the error
  if the login then fails, or at once when no key is left to offer.
* given IdentityFile as ``key_filename`` (route.py), Paramiko knows nothing of ``IdentitiesOnly``:
  it also offers every agent key and ``~/.ssh/id_*``, and a server with ``MaxAuthTries`` may refuse
  the login before the right key comes up. With ``IdentitiesOnly yes`` only the named files are
  offered (the default ``~/.ssh/id_*`` when none is named, as ``ssh`` does).

Pure apart from checking that files exist; no Paramiko import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pushdeploy.config.deployconf import Environment, where
from pushdeploy.errors import ConfigError


def check_key(env: Environment) -> str | None:
    """deploy.conf's ``key`` as a path to open, or None; ConfigError (3) when there is no file."""
    if not env.ssh.key:
        return None
    path = os.path.expanduser(env.ssh.key)
    if os.path.isfile(path):
        return path
    setting = env.settings.get("key")
    at = where(env.config_file, setting) if setting is not None else f"{env.config_file}:"
    raise ConfigError(
        f"{at} [{env.name}] key: no such file: {path}",
        "point 'key' at your private key file, or remove it to use ~/.ssh/config and the agent",
    )


def identities_only(ssh_config: Mapping[str, Any]) -> bool:
    return str(ssh_config.get("identitiesonly", "no")).strip().lower() == "yes"


def offer(ssh_config: Mapping[str, Any], connect_kwargs: dict[str, Any]) -> list[str]:
    """Make ``connect_kwargs`` (a route's, IdentityFile in ``key_filename``) offer what ``ssh`` would.

    Returns the named key files that do not exist, which are no longer offered.
    """
    named = connect_kwargs.get("key_filename") or []
    if isinstance(named, str):
        named = [named]
    present: list[str] = []
    missing: list[str] = []
    for path in dict.fromkeys(os.path.expanduser(str(p)) for p in named):
        if not os.path.isfile(path) and os.path.isfile(f"{path}.pub"):
            path = f"{path}.pub"  # that key, from the agent (agents.py)
        (present if os.path.isfile(path) else missing).append(path)
    if present:
        connect_kwargs["key_filename"] = present
    else:
        connect_kwargs.pop("key_filename", None)
    if identities_only(ssh_config):
        connect_kwargs["allow_agent"] = False
        connect_kwargs["look_for_keys"] = not named
    return missing


def nothing_to_offer(connect_kwargs: Mapping[str, Any]) -> bool:
    """True when no key, agent or default file is left to try (Paramiko would then say only
    "No authentication methods available")."""
    return not (
        connect_kwargs.get("key_filename")
        or connect_kwargs.get("pkey")
        or connect_kwargs.get("password")
        or connect_kwargs.get("allow_agent", True)
        or connect_kwargs.get("look_for_keys", True)
    )


def describe_missing(missing: list[str]) -> str:
    files = ", ".join(missing)
    return f"IdentityFile {files} (from ~/.ssh/config) does not exist"
