"""The keys of what runs around a deploy: notifications, the watcher and etcd rollouts.

They join keys.KEYS (the one table of keys), kept here so that each module of keys stays small;
each block names the section of ``Environment`` its values live in (notify, watch, rollout).
A key whose converter is ``variable_reference`` holds ``$NAME``: deployconf.py reads the secret
from this machine's environment (or secrets-file) and hides it in every output.
"""

from __future__ import annotations

from pushdeploy.config.key import Key, in_section
from pushdeploy.config.values import (
    address_port,
    etcd_rollout,
    notify_targets,
    one_line,
    positive,
    seconds,
    variable_reference,
)


def automation_keys() -> list[Key]:
    """The keys of notifications, the watcher and etcd rollouts, in the table's order."""
    return [
        *in_section(
            "notify",
            Key(
                "notify",
                notify_targets,
                "targets told of deploys, reverts and failures, one per line: webhook URL, slack URL,"
                " mail ADDRESS..., graphite URL, github",
                "",
                field="targets",
            ),
            Key(
                "notify-secret",
                variable_reference,
                "$NAME of the HMAC key that signs webhooks",
                field="secret",
            ),
            Key("smtp", address_port, "host:port of the SMTP server for mail", "localhost:25"),
            Key("smtp-user", one_line, "SMTP login user", unset="no login"),
            Key("smtp-password", variable_reference, "$NAME of the SMTP password"),
            Key("mail-from", one_line, "sender of notification mail", unset="pushdeploy@this host"),
            Key("github-token", variable_reference, "$NAME of a GitHub token for commit statuses"),
            Key(
                "github-api",
                one_line,
                "GitHub API base (GitHub Enterprise: https://HOST/api/v3)",
                "https://api.github.com",
            ),
            Key("github-repo", one_line, "OWNER/NAME on GitHub", unset="from repo"),
        ),
        *in_section(
            "watch",
            Key("interval", seconds, "seconds between the watcher's looks at the source", "30"),
            Key(
                "watch-backoff",
                positive,
                "longest wait, in seconds, after failed looks",
                "600",
                field="backoff",
            ),
            Key(
                "webhook-secret",
                variable_reference,
                "$NAME of the secret push webhooks are signed with (GitHub, Gitea) or carry (GitLab)",
            ),
        ),
        *in_section(
            "rollout",
            Key(
                "rollout",
                etcd_rollout,
                "etcd://HOST:PORT/PREFIX: watchers take turns through etcd",
                unset="no coordination",
                field="etcd",
            ),
            Key(
                "rollout-lease",
                positive,
                "seconds before a dead watcher's turn is given back",
                "10",
                field="lease",
            ),
            Key(
                "rollout-name",
                one_line,
                "this server's name in etcd",
                unset="its host name",
                field="name",
            ),
        ),
    ]
