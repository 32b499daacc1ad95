"""Telling the ``notify`` targets that a deploy started, went live, was reverted or failed.

``announce`` is what the command handlers call, once per event. It builds one ``Notice`` (the
facts every target tells: who, what, where, result, duration, a link to the commit) and hands it
to each target of ``env.notify.targets``; each kind of target has its module (``TARGETS``).

Lifecycle of one ``announce``: one daemon thread per target, all started at once; each gets
``timeout`` seconds (5) per attempt and ONE retry after a transient failure (no connection, no
answer in time, HTTP 5xx, SMTP 4xx). ``announce`` waits ``2 * timeout + 1`` seconds at most,
then returns: a target still busy is abandoned (a daemon thread; its late answer is ignored).
Every failure is one ``warn`` line (``notify: slack: HTTP 500 from https://hooks.slack.com/...``)
said from the caller's thread, with URL paths, passwords and tokens hidden. Nothing here raises,
and nothing changes the deploy's exit status.

A start is told only by the targets that can say one usefully (``STARTS``): a webhook, a Slack
message and a ``pending`` GitHub status. Mail and Graphite hear of outcomes only.
"""

from __future__ import annotations

import ssl
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from pushdeploy.config import secrets
from pushdeploy.notify import github, graphite, mail, slack, webhook
from pushdeploy.notify.http import Failed, one_line
from pushdeploy.notify.notice import GIT_SHA, TIMEOUT, Notice
from pushdeploy.remote import lock
from pushdeploy.remote.report import DeployReport

if TYPE_CHECKING:
    from pushdeploy.config.environment import Environment

EVENTS = ("started", "deployed", "reverted", "failed")
STARTS = frozenset({"webhook", "slack", "github"})  # the targets that tell of a start
RETRIES = 1  # after a transient failure
GIVE_UP = (RETRIES + 1) * TIMEOUT + 1  # seconds an announce takes at most (with TIMEOUT)


class Warn(Protocol):
    def __call__(self, message: str, /) -> None: ...


def announce(
    env: Environment,
    event: str,
    report: DeployReport | None,
    *,
    warn: Warn,
    ref: str | None = None,
    started: float | None = None,
    timeout: float = TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Tell every target of ``env.notify.targets`` of ``event`` (one of EVENTS), all in parallel.

    ``report`` is the command's report (None for a start, when there is none yet); ``ref`` names
    what is deployed when the report does not; ``started`` is when the deploy began
    (``time.time()``; default now). ``timeout`` and ``ssl_context`` (the CAs trusted for HTTPS
    and STARTTLS; default the system's) are there for tests. Returns within ``2*timeout + 1`` s.
    """
    if event not in EVENTS:  # a caller's bug, said as a warning like everything here
        warn(f"notify: unknown event {event!r}; expected one of {', '.join(EVENTS)}")
        return
    targets = [
        (kind, args) for kind, args in env.notify.targets if event != "started" or kind in STARTS
    ]
    if not targets:
        return
    sha = report.sha if report is not None else ""
    sha = sha or (ref if ref and GIT_SHA.fullmatch(ref) else "")
    now = time.time()
    notice = Notice(
        env,
        event,
        report,
        ref=(report.ref if report is not None else "") or ref or "",
        sha=sha,
        who=lock.claim("notify").who,
        started=now if started is None else started,
        at=now,
        delivery=str(uuid.uuid4()),
        timeout=timeout,
        ssl_context=ssl_context,
    )
    limit = (RETRIES + 1) * timeout + 1
    deadline = time.monotonic() + limit
    said: dict[int, str] = {}

    def work(i: int, kind: str, args: tuple[str, ...]) -> None:
        said[i] = deliver(notice, kind, args, deadline)

    threads = [
        threading.Thread(target=work, args=(i, *target), name=f"notify-{target[0]}", daemon=True)
        for i, target in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    hide = secrets.Masker(hidden_values(env))
    for i, (kind, _args) in enumerate(targets):
        if (text := said.get(i)) is None:
            warn(f"notify: {kind}: no answer within {limit:g} s; gave up")
        elif text:
            warn(hide(secrets.redact_urls(f"notify: {kind}: {text}")))


def deliver(notice: Notice, kind: str, args: tuple[str, ...], deadline: float) -> str:
    """Send to one target, once more after a transient failure: '' or what went wrong."""
    send = TARGETS[kind]
    for attempt in range(RETRIES + 1):
        left = deadline - 1 - time.monotonic()
        try:
            send(notice, args, min(notice.timeout, max(left, 0.1)))
            return ""
        except Failed as failed:
            left = deadline - 1 - time.monotonic()
            if not failed.transient or attempt == RETRIES or left < notice.timeout / 2:
                return failed.message
        # A notification never fails a deploy: an error no target module foresaw (a bug) is
        # said as a warning of its own, with its type.
        except Exception as exc:
            return f"unexpected {type(exc).__name__}: {one_line(str(exc))}"
    return "not sent"  # not reached: the last attempt returns


def hidden_values(env: Environment) -> list[str]:
    """What a warning must never show: the keys' secrets, the URLs' passwords, and their paths
    and queries (a Slack URL's path is its secret; warnings show only scheme and host anyway)."""
    values = [env.notify.secret, env.notify.smtp_password, env.notify.github_token]
    urls = [arg for kind, args in env.notify.targets if kind != "mail" for arg in args]
    values += [s for url in urls for s in secrets.url_secrets(url)]
    values += [part for url in urls for part in urlsplit(url)[2:4] if part.strip("/")]
    return [v for v in values if v]


TARGETS: dict[str, Callable[[Notice, tuple[str, ...], float], None]] = {
    "webhook": webhook.webhook,
    "slack": slack.slack,
    "mail": mail.mail,
    "graphite": graphite.graphite,
    "github": github.github,
}
