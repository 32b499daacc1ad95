"""How notify's targets are reached: one HTTP POST, its failures, and text made safe to show.

Each target is a function ``(notice, args, timeout) -> None`` in ``TARGETS`` that makes ONE
attempt: it returns once the target took the notice, or raises ``Failed`` saying what went wrong
and whether trying again may help; announce.py owns the threads, the retry and the warnings.

Standard library only: urllib for HTTP, smtplib and ssl for mail. HTTP redirects are not
followed (a token or a signed body must not travel to a host the config does not name), and a
URL in a message shows only its scheme and host (``https://hooks.slack.com/...``): a Slack URL's
path is its secret.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import unquote, urlsplit

from pushdeploy import __version__
from pushdeploy.config import secrets

USER_AGENT = f"pushdeploy/{__version__}"
ANSWER_LIMIT = 64 * 1024  # bytes of an answer read (and ignored)
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
    shown = secrets.shown_url(url)
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


def encode(payload: dict[str, Any], mask: secrets.Masker) -> bytes:
    """``payload`` as the JSON body of a POST, every string in it masked first (``mask``: the
    notice's, so that no target sends a secret that ``--json`` would hide)."""
    return json.dumps(secrets.masked(payload, mask), ensure_ascii=False).encode("utf-8")
