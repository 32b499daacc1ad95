"""A webhook target: the notice as signed JSON POSTed to a URL (docs/notifications.md)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pushdeploy.notify.http import (
    encode,
    post,
)

if TYPE_CHECKING:
    from pushdeploy.notify.notice import Notice


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
    body = encode(webhook_payload(notice), notice.mask)
    headers = {"X-Pushdeploy-Event": notice.event, "X-Pushdeploy-Delivery": notice.delivery}
    if notice.env.notify.secret:
        headers["X-Pushdeploy-Signature"] = signature(notice.env.notify.secret, body)
    post(args[0], body, headers, timeout, notice.ssl_context)
