"""A Graphite target: the notice as an event POSTed to Graphite's events API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pushdeploy.notify.http import (
    encode,
    one_line,
    post,
)

if TYPE_CHECKING:
    from pushdeploy.notify.notice import Notice


def graphite(notice: Notice, args: tuple[str, ...], timeout: float) -> None:
    """An event through Graphite's events API (``POST /events/``), as dropship's graphite-event."""
    env = notice.env
    payload = {
        "what": f"pushdeploy {env.name}: {one_line(notice.summary)}",
        "tags": ["pushdeploy", env.name, notice.event],
        "data": "\n".join(notice.details()),
        "when": int(notice.started if notice.event == "started" else notice.at),
    }
    post(args[0], encode(payload, notice.mask), {}, timeout, notice.ssl_context)


# --- GitHub --------------------------------------------------------------------------------------
