"""Telling the ``notify`` targets that a deploy started, went live, was reverted or failed.

``announce`` is what a caller that waits calls, once per event; ``send`` and ``Announcement.wait``
are its two halves, for a deploy's start that goes out while the deploy runs (cli/announcements.py).
Each event is one ``Notice`` (the facts every target tells: who, what, where, result, duration, a
link to the commit), handed to each target of ``env.notify.targets``; each kind of target has its
module (``TARGETS``). The report is masked before a notice is made of it, and every string a
target sends once more (``secrets.masker``: what the terminal, ``--json`` and the logs hide, each
notification hides alike).

Lifecycle of one ``Announcement``: ``send`` starts one daemon thread per target, all at once, and
returns; each target gets ``timeout`` seconds (5) per attempt and ONE retry after a transient
failure (no connection, no answer in time, HTTP 5xx, SMTP 4xx). ``wait`` returns at the latest
``GIVE_UP`` (``2 * timeout + 1``) seconds after ``send``: a target still busy is abandoned (a
daemon thread; its late answer is ignored). Every failure is one ``warn`` line (``notify: slack:
HTTP 500 from https://hooks.slack.com/...``) said from the waiter's thread, with URL paths,
passwords and tokens hidden. Nothing here raises, and nothing changes the deploy's exit status.

A start is told only by the targets that can say one usefully (``STARTS``): a webhook, a Slack
message and a ``pending`` GitHub status. Mail and Graphite hear of outcomes only. The end of a
deploy is sent ``after`` its start, at once and never later: a start still being sent is not
retried any more, and each target hears the end once its start's attempt in flight is over (so a
``pending`` status never lands after ``success``); the end's own deadline bounds it all, so the
whole deploy's notices end within ``GIVE_UP`` seconds of the deploy's end.
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
GIVE_UP = (RETRIES + 1) * TIMEOUT + 1  # seconds an announcement takes at most (with TIMEOUT)


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
    """Tell every target of ``env.notify.targets`` of ``event`` and wait: ``send``, then ``wait``.
    Returns within ``2*timeout + 1`` s."""
    send(
        env, event, report, ref=ref, started=started, timeout=timeout, ssl_context=ssl_context
    ).wait(warn)


def send(
    env: Environment,
    event: str,
    report: DeployReport | None,
    *,
    ref: str | None = None,
    started: float | None = None,
    timeout: float = TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
    after: Announcement | None = None,
) -> Announcement:
    """Start telling every target of ``event`` (one of EVENTS), all in parallel; ``wait`` ends it.

    ``report`` is the command's report (None for a start, when there is none yet); ``ref`` names
    what is deployed when the report does not; ``started`` is when the deploy began
    (``time.time()``; default now). ``after`` is the same deploy's start, still going out maybe
    (see the module docstring). ``timeout`` and ``ssl_context`` (the CAs trusted for HTTPS and
    STARTTLS; default the system's) are there for tests.
    """
    if after is not None:
        after.due.set()  # no retry of the start any more: the end is due
    announcement = Announcement(event, (RETRIES + 1) * timeout + 1, after)
    if event not in EVENTS:  # a caller's bug, said as a warning like everything here
        announcement.problems.append(
            f"notify: unknown event {event!r}; expected one of {', '.join(EVENTS)}"
        )
        return announcement
    targets = [
        (i, kind, args)
        for i, (kind, args) in enumerate(env.notify.targets)
        if event != "started" or kind in STARTS
    ]
    if not targets:
        return announcement
    mask = secrets.masker(env)  # before any text is made of the report: see secrets.masked
    report = secrets.masked(report, mask)
    sha = report.sha if report is not None else ""
    sha = sha or (ref if ref and GIT_SHA.fullmatch(ref) else "")
    now = time.time()
    notice = Notice(
        env,
        event,
        report,
        ref=mask((report.ref if report is not None else "") or ref or ""),
        sha=sha,
        who=lock.claim("notify").who,
        started=now if started is None else started,
        at=now,
        delivery=str(uuid.uuid4()),
        timeout=timeout,
        ssl_context=ssl_context,
        mask=mask,
    )
    announcement.begin(notice, targets)
    return announcement


class Announcement:
    """One event on its way to its targets, from ``send`` to ``wait`` (the module docstring)."""

    def __init__(self, event: str, limit: float, before: Announcement | None) -> None:
        self.event, self.limit, self.before = event, limit, before
        self.deadline = time.monotonic() + limit
        self.due = threading.Event()  # a later notice of the deploy is due: no more retries
        self.problems: list[str] = []
        self.targets: list[tuple[int, str, tuple[str, ...]]] = []  # (index in notify, kind, args)
        self.threads: dict[int, threading.Thread] = {}
        self.said: dict[int, str] = {}  # index: '' (told) or what went wrong
        self._hide = secrets.Masker()
        self._waited = False

    def begin(self, notice: Notice, targets: list[tuple[int, str, tuple[str, ...]]]) -> None:
        self.targets, self._hide = targets, secrets.Masker(hidden_values(notice.env))
        for index, kind, args in targets:

            def work(index: int = index, kind: str = kind, args: tuple[str, ...] = args) -> None:
                self.said[index] = self.deliver(notice, index, kind, args)

            thread = threading.Thread(target=work, name=f"notify-{kind}", daemon=True)
            self.threads[index] = thread
            thread.start()

    def wait(self, warn: Warn) -> None:
        """Wait for every target until the deadline (the start's first, its own deadline being
        earlier), then say what failed, one warning a target; only the first call says it."""
        if self._waited:
            return
        self._waited = True
        if self.before is not None:
            self.before.wait(warn)
        for thread in self.threads.values():
            thread.join(max(0.0, self.deadline - time.monotonic()))
        for problem in self.problems:
            warn(problem)
        notice = "start notice: " if self.event == "started" else ""
        for index, kind, _args in self.targets:
            if (text := self.said.get(index)) is None:
                warn(f"notify: {kind}: {notice}no answer within {self.limit:g} s; gave up")
            elif text:
                warn(self._hide(secrets.redact_urls(f"notify: {kind}: {notice}{text}")))

    def deliver(self, notice: Notice, index: int, kind: str, args: tuple[str, ...]) -> str:
        """Send to one target, once more after a transient failure: '' or what went wrong. A
        start's attempt to this target still in flight ends first (one attempt's time at most)."""
        earlier = self.before.threads.get(index) if self.before is not None else None
        if earlier is not None:
            earlier.join(max(0.0, min(notice.timeout, self.deadline - 1 - time.monotonic())))
        send = TARGETS[kind]
        for attempt in range(RETRIES + 1):
            left = self.deadline - 1 - time.monotonic()
            try:
                send(notice, args, min(notice.timeout, max(left, 0.1)))
                return ""
            except Failed as failed:
                left = self.deadline - 1 - time.monotonic()
                last = attempt == RETRIES or self.due.is_set() or left < notice.timeout / 2
                if not failed.transient or last:
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
