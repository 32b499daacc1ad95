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

OUTPUT_LINES = 5  # of a failure's last output, in a block of its own


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(notice: Notice) -> dict[str, Any]:
    """An incoming-webhook message: a line of text, and blocks with who, what, where, result
    (and a failure's last output lines)."""
    headline = f"{notice.env.name}: {one_line(notice.summary)}"
    took = f", {notice.duration}" if notice.duration else ""
    fields = [("Who", notice.who), ("What", notice.what), ("Where", one_line(notice.where))]
    fields += [("Result", notice.result), ("Duration", notice.duration)]
    said = [{"type": "mrkdwn", "text": f"*{k}*\n{_mrkdwn(v)}"} for k, v in fields if v]
    title = {"type": "mrkdwn", "text": f"*{_mrkdwn(headline)}*"}
    blocks: list[dict[str, Any]] = [{"type": "section", "text": title}]
    blocks.append({"type": "section", "fields": said})
    if output := notice.last_output(OUTPUT_LINES):  # a failure's last lines, as on the terminal
        lines = "\n".join(_mrkdwn(line.replace("`", "'")) for line in output)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{lines}```"}})
    if notice.link:
        label = "compare" if "/compare/" in notice.link else "commit"
        link = {"type": "mrkdwn", "text": f"<{notice.link}|{label}>"}
        blocks.append({"type": "context", "elements": [link]})
    text = f"{headline} (by {notice.who}{took})"
    if notice.reason:
        text += f": {notice.reason}"
    return {"text": _mrkdwn(text), "blocks": blocks}


def slack(notice: Notice, args: tuple[str, ...], timeout: float) -> None:
    post(args[0], encode(slack_message(notice), notice.mask), {}, timeout, notice.ssl_context)
