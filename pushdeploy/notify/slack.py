"""A Slack target: the notice as an incoming webhook's message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pushdeploy.notify.http import (
    encode,
    one_line,
    post,
)

if TYPE_CHECKING:
    from pushdeploy.notify.notice import Notice


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
