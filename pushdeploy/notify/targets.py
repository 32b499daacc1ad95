"""How each ``notify`` target is spoken to: a webhook, Slack, mail, a Graphite event, a GitHub status.

Each target is a function ``(notice, args, timeout) -> None`` in ``TARGETS`` that makes ONE
attempt: it returns once the target took the notice, or raises ``Failed`` saying what went wrong
and whether trying again may help; notify.py owns the threads, the retry and the warnings.

Standard library only: urllib for HTTP, smtplib and ssl for mail. HTTP redirects are not
followed (a token or a signed body must not travel to a host the config does not name), and a
URL in a message shows only its scheme and host (``https://hooks.slack.com/...``): a Slack URL's
path is its secret.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import hmac
import http.client
import json
import re
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pushdeploy import __version__
from pushdeploy.config import secrets

if TYPE_CHECKING:
    from pushdeploy.notify.notice import Notice

USER_AGENT = f"pushdeploy/{__version__}"
ANSWER_LIMIT = 64 * 1024  # bytes of an answer read (and ignored)
GITHUB_API_VERSION = "2022-11-28"
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+")


class Failed(Exception):
    """One attempt that did not reach its target: the warning's text, and whether to retry."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


def one_line(text: str, limit: int = 300) -> str:
    """``text`` (often read from a server) as one line of at most ``limit`` characters."""
    line = _CONTROLS.sub(" ", text).strip()
    return line if len(line) <= limit else line[: limit - 3] + "..."


def shown_url(url: str) -> str:
    """``https://hooks.slack.com/...``: scheme and host, userinfo hidden, the rest elided."""
    parts = urlsplit(url)
    rest = "/..." if parts.path.strip("/") or parts.query else ""
    return secrets.redact_urls(f"{parts.scheme}://{parts.netloc}") + rest


# --- HTTP ----------------------------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError for the 3xx


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    context: ssl.SSLContext | None,
) -> None:
    """POST ``body`` as JSON to ``url``; a 2xx answer is success, anything else ``Failed``.
    A ``user:password@`` in the URL is sent as basic auth (urllib would take it for the host)."""
    parts = urlsplit(url)
    userinfo, at, netloc = parts.netloc.rpartition("@")
    request = urllib.request.Request(parts._replace(netloc=netloc).geturl(), body, method="POST")
    if at:
        pair = ":".join(unquote(p) for p in userinfo.partition(":")[::2]).encode("utf-8")
        request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode("ascii"))
    for name, value in {"Content-Type": "application/json", "User-Agent": USER_AGENT}.items():
        request.add_header(name, value)
    for name, value in headers.items():
        request.add_header(name, value)
    opener = urllib.request.build_opener(_NoRedirects, urllib.request.HTTPSHandler(context=context))
    shown = shown_url(url)
    try:
        with opener.open(request, timeout=timeout) as answer:
            answer.read(ANSWER_LIMIT)
    except urllib.error.HTTPError as exc:
        said = one_line(exc.read(200).decode("utf-8", "replace"), 100) if exc.fp else ""
        raise Failed(
            f"HTTP {exc.code} from {shown}" + (f": {said}" if said else ""), exc.code >= 500
        ) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise Failed(f"no answer within {round(timeout, 1):g} s from {shown}", True) from None
        reason = getattr(exc.reason, "strerror", None) or str(exc.reason)
        transient = not isinstance(exc.reason, ssl.SSLError)
        raise Failed(f"cannot reach {shown}: {one_line(reason, 150)}", transient) from None
    except TimeoutError:
        raise Failed(f"no answer within {round(timeout, 1):g} s from {shown}", True) from None
    except (OSError, http.client.HTTPException) as exc:
        raise Failed(f"{shown}: {type(exc).__name__}: {one_line(str(exc), 150)}", True) from None


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def webhook_payload(notice: Notice) -> dict[str, Any]:
    """The report as JSON (docs/json.md) with the event; a start without a report says less."""
    report = notice.report
    if report is not None:
        body = report.to_json()
    else:
        body = {"command": "deploy", "outcome": "running", "ref": notice.ref or None}
        body |= {"sha": notice.sha or None, "hosts": [{"host": h} for h in notice.hosts]}
    return body | {
        "event": notice.event,
        "environment": notice.env.name,
        "who": notice.who,
        "started_at": _iso(notice.started),
        "time": _iso(notice.at),
        "link": notice.link or None,
    }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signature(secret: str, body: bytes) -> str:
    """``sha256=HEX``: HMAC-SHA256 of the exact body, GitHub's X-Hub-Signature-256 convention."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def webhook(notice: Notice, args: tuple[str, ...], timeout: float) -> None:
    body = encode(webhook_payload(notice))
    headers = {"X-Pushdeploy-Event": notice.event, "X-Pushdeploy-Delivery": notice.delivery}
    if notice.env.notify_secret:
        headers["X-Pushdeploy-Signature"] = signature(notice.env.notify_secret, body)
    post(args[0], body, headers, timeout, notice.ssl_context)


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(notice: Notice) -> dict[str, Any]:
    """An incoming-webhook message: a line of text, and blocks with who, what, where, result."""
    headline = f"{notice.env.name}: {one_line(notice.summary)}"
    took = f", {notice.duration}" if notice.duration else ""
    fields = [("Who", notice.who), ("What", notice.what), ("Where", one_line(notice.where))]
    fields += [("Result", notice.result), ("Duration", notice.duration)]
    said = [{"type": "mrkdwn", "text": f"*{k}*\n{_mrkdwn(v)}"} for k, v in fields if v]
    title = {"type": "mrkdwn", "text": f"*{_mrkdwn(headline)}*"}
    blocks: list[dict[str, Any]] = [{"type": "section", "text": title}]
    blocks.append({"type": "section", "fields": said})
    if notice.link:
        label = "compare" if "/compare/" in notice.link else "commit"
        link = {"type": "mrkdwn", "text": f"<{notice.link}|{label}>"}
        blocks.append({"type": "context", "elements": [link]})
    text = f"{headline} (by {notice.who}{took})"
    if notice.reason:
        text += f": {notice.reason}"
    return {"text": _mrkdwn(text), "blocks": blocks}


def slack(notice: Notice, args: tuple[str, ...], timeout: float) -> None:
    post(args[0], encode(slack_message(notice)), {}, timeout, notice.ssl_context)


def graphite(notice: Notice, args: tuple[str, ...], timeout: float) -> None:
    """An event through Graphite's events API (``POST /events/``), as dropship's graphite-event."""
    env = notice.env
    payload = {
        "what": f"pushdeploy {env.name}: {one_line(notice.summary)}",
        "tags": ["pushdeploy", env.name, notice.event],
        "data": "\n".join(notice.details()),
        "when": int(notice.started if notice.event == "started" else notice.at),
    }
    post(args[0], encode(payload), {}, timeout, notice.ssl_context)


# --- GitHub --------------------------------------------------------------------------------------


def github(notice: Notice, args: tuple[str, ...], timeout: float) -> None:
    """A commit status on the deployed SHA: pending (a start), success, or failure."""
    env, sha = notice.env, notice.git_sha
    if not sha:
        if notice.event == "started":
            return  # nothing to hang a pending status on yet: the outcome will say it
        why = "an artifact's digest is not a commit" if env.artifact else "no commit SHA known"
        raise Failed(f"no commit status: {why}")
    if not env.github_token:
        raise Failed("no commit status: github-token is not set")
    repo = notice.github_repo
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise Failed("no commit status: set github-repo = OWNER/NAME (repo is not on GitHub)")
    report = notice.report
    payload = {
        "state": {"started": "pending", "failed": "failure"}.get(notice.event, "success"),
        "context": f"pushdeploy/{env.name}",
        "description": one_line(report.headline() if report else notice.summary, 140),
    }
    headers = {
        "Authorization": f"Bearer {env.github_token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": GITHUB_API_VERSION,
    }
    url = f"{env.github_api.rstrip('/')}/repos/{repo}/statuses/{sha}"
    post(url, encode(payload), headers, timeout, notice.ssl_context)


# --- mail ----------------------------------------------------------------------------------------


def mail_message(notice: Notice, sender: str, to: tuple[str, ...]) -> EmailMessage:
    message = EmailMessage(policy=email.policy.default.clone(max_line_length=998))  # RFC 5322
    message["Subject"] = f"[pushdeploy] {notice.env.name}: {one_line(notice.summary, 200)}"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(notice.at, localtime=True)
    message["Message-ID"] = make_msgid("pushdeploy", sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    message["X-Pushdeploy-Event"] = notice.event
    message.set_content("\n".join(notice.details()) + "\n")
    return message


def mail(notice: Notice, args: tuple[str, ...], timeout: float) -> None:
    """One mail to every address, through ``smtp`` with STARTTLS always (verified), then login."""
    env = notice.env
    host, _, port = env.smtp.rpartition(":")
    server, user = env.smtp, env.smtp_user
    if user and env.smtp_password is None:
        raise Failed("smtp-user is set but smtp-password is not: mail not sent")
    sender = env.mail_from or f"pushdeploy@{socket.getfqdn()}"
    try:
        with smtplib.SMTP(host.strip("[]"), int(port), timeout=timeout) as smtp:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise Failed(
                    f"{server} offers no STARTTLS: mail not sent"
                    " (pushdeploy sends no mail and no password in the clear)"
                )
            smtp.starttls(context=notice.ssl_context or ssl.create_default_context())
            smtp.ehlo()
            if user:
                smtp.login(user, env.smtp_password or "")
            refused = smtp.send_message(mail_message(notice, sender, args), sender, list(args))
    except Failed:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise Failed(f"{server} refused the login of {user}: {_said(exc)}") from None
    except smtplib.SMTPResponseException as exc:
        raise Failed(f"{server} answered {_said(exc)}", 400 <= exc.smtp_code < 500) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise Failed(f"{server} refused every address: {', '.join(exc.recipients)}") from None
    except smtplib.SMTPServerDisconnected as exc:
        raise Failed(f"{server} hung up: {one_line(str(exc), 150)}", True) from None
    except smtplib.SMTPException as exc:
        raise Failed(f"{server}: {one_line(str(exc), 150)}") from None
    except ssl.SSLError as exc:
        raise Failed(f"STARTTLS with {server} failed: {one_line(str(exc), 150)}") from None
    except TimeoutError:
        raise Failed(f"no answer within {round(timeout, 1):g} s from {server}", True) from None
    except OSError as exc:
        raise Failed(f"cannot reach {server}: {exc.strerror or exc}", True) from None
    if refused:
        raise Failed(f"{server} refused {', '.join(refused)} (the others were sent)")


def _said(exc: smtplib.SMTPResponseException) -> str:
    error: bytes | str = exc.smtp_error
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else error
    return one_line(f"{exc.smtp_code} {text}", 150)


TARGETS: dict[str, Callable[[Notice, tuple[str, ...], float], None]] = {
    "webhook": webhook,
    "slack": slack,
    "mail": mail,
    "graphite": graphite,
    "github": github,
}
