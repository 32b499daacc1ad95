"""The keys of what runs around a deploy: notifications, the watcher and etcd rollouts.

They join keys.KEYS (the one table of keys), kept here so that each module of keys stays small.
A key whose converter is ``variable_reference`` holds ``$NAME``: config.py reads the secret from
this machine's environment (or secrets-file) and hides it in every output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pushdeploy.values import (
    address_port,
    etcd_rollout,
    notify_targets,
    one_line,
    positive,
    seconds,
    variable_reference,
)

if TYPE_CHECKING:
    from pushdeploy.keys import Key


def automation_keys(key: type[Key]) -> list[Key]:
    """The keys, made with keys.Key (passed in: keys.py imports this module)."""
    return [
        key(
            "notify",
            notify_targets,
            "targets told of deploys, reverts and failures, one per line: webhook URL, slack URL,"
            " mail ADDRESS..., graphite URL, github",
            "",
        ),
        key("notify-secret", variable_reference, "$NAME of the HMAC key that signs webhooks"),
        key("smtp", address_port, "host:port of the SMTP server for mail", "localhost:25"),
        key("smtp-user", one_line, "SMTP login user", unset="no login"),
        key("smtp-password", variable_reference, "$NAME of the SMTP password"),
        key("mail-from", one_line, "sender of notification mail", unset="pushdeploy@this host"),
        key("github-token", variable_reference, "$NAME of a GitHub token for commit statuses"),
        key(
            "github-api",
            one_line,
            "GitHub API base (GitHub Enterprise: https://HOST/api/v3)",
            "https://api.github.com",
        ),
        key("github-repo", one_line, "OWNER/NAME on GitHub", unset="from repo"),
        key("interval", seconds, "seconds between the watcher's looks at the source", "30"),
        key("watch-backoff", positive, "longest wait, in seconds, after failed looks", "600"),
        key(
            "webhook-secret",
            variable_reference,
            "$NAME of the secret push webhooks are signed with (GitHub, Gitea) or carry (GitLab)",
        ),
        key(
            "rollout",
            etcd_rollout,
            "etcd://HOST:PORT/PREFIX: watchers take turns through etcd",
            unset="no coordination",
        ),
        key("rollout-lease", positive, "seconds before a dead watcher's turn is given back", "10"),
        key("rollout-name", one_line, "this server's name in etcd", unset="its host name"),
    ]
