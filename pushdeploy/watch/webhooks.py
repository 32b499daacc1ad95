"""The verdict on a push webhook: verified GitHub, GitLab and Gitea pushes wake the watcher.

``watch --listen ADDR`` runs a ``Listener`` (listener.py) next to the watcher's polling; each
request it reads is judged here. A request only ever wakes the watcher: the watcher then asks
the source itself (``git ls-remote``) what the ref is, so a push body is never trusted for what
to deploy, and a burst of pushes is one look (the wake is an event, set once or many times).

``judge`` is the whole verdict, pure, in this order (first match wins)::

    411  no Content-Length (chunked bodies too)    413  a body over LIMIT bytes (never read)
    400  a bad Content-Length; no X-GitHub-Event, X-Gitlab-Event or X-Gitea-Event header
    401  no signature (GitHub X-Hub-Signature-256, Gitea X-Gitea-Signature) or token (GitLab
         X-Gitlab-Token)                           403  a signature or token that does not match
    400  no delivery id (X-GitHub-Delivery, X-Gitea-Delivery, X-Gitlab-Event-UUID)
    409  a delivery id seen before (the last DELIVERIES ids are remembered, in memory)
    202  ignored: not a push event, or another ref   400  a push body that is not JSON with "ref"
    202  accepted: the configured ref was pushed; the watcher looks now

Gitea also sends GitHub's headers, so its own are looked for first. Signatures are HMAC-SHA256
of the raw body with ``webhook-secret``, compared in constant time (``hmac.compare_digest``), as
is GitLab's token. The secret is never logged or echoed.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass

LIMIT = 1 << 20  # bytes of a body (GitHub caps its payloads at 25 MB; a push is far smaller)
DELIVERIES = 1000  # delivery ids remembered against replays


@dataclass(frozen=True)
class Provider:
    """How one forge names its push event, delivery id and signature."""

    name: str
    event: str  # the header naming the event
    pushes: frozenset[str]  # its values that are pushes
    delivery: str
    signature: str
    scheme: str  # "hmac": hex HMAC-SHA256 (GitHub's with "sha256=" before it); "token": equal


# Gitea first: it sends X-GitHub-Event (and X-Hub-Signature-256) too.
PROVIDERS = (
    Provider("gitea", "x-gitea-event", frozenset({"push"}), "x-gitea-delivery", "x-gitea-signature", "hmac"),
    Provider("gitlab", "x-gitlab-event", frozenset({"Push Hook", "Tag Push Hook"}), "x-gitlab-event-uuid", "x-gitlab-token", "token"),
    Provider("github", "x-github-event", frozenset({"push"}), "x-github-delivery", "x-hub-signature-256", "hmac"),
)  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """The answer to one request: its HTTP status and why, in a few words (no secret in them)."""

    status: int
    reason: str
    provider: str = ""
    delivery: str = ""

    @property
    def accepted(self) -> bool:
        return self.status == 202 and self.reason == "accepted"


class Deliveries:
    """The last ``size`` delivery ids, to refuse a replayed request; safe across threads."""

    def __init__(self, size: int = DELIVERIES) -> None:
        self._order: collections.deque[str] = collections.deque()
        self._known: set[str] = set()
        self._size = size
        self._lock = threading.Lock()

    def seen(self, delivery: str) -> bool:
        """Whether ``delivery`` came before; remember it either way."""
        with self._lock:
            if delivery in self._known:
                return True
            self._order.append(delivery)
            self._known.add(delivery)
            if len(self._order) > self._size:
                self._known.discard(self._order.popleft())
            return False


def printable(text: str, limit: int = 100) -> str:
    """Untrusted header text for a log line: printable ASCII, cut at ``limit``."""
    return re.sub(r"[^ -~]", "?", text)[:limit]


def body_length(headers: Mapping[str, str]) -> int | Verdict:
    """The body's length from Content-Length, or the refusal, before a byte of it is read."""
    given = headers.get("content-length")
    if given is None or "chunked" in headers.get("transfer-encoding", "").lower():
        return Verdict(411, "a Content-Length is required")
    if not (given.isascii() and given.isdigit()) or len(given) > 12:
        return Verdict(400, "bad Content-Length")
    if int(given) > LIMIT:
        return Verdict(413, f"over {LIMIT} bytes")
    return int(given)


def signed(provider: Provider, given: str, body: bytes, secret: str) -> bool:
    """Whether ``given`` (the signature or token header) proves ``secret``, in constant time."""
    if provider.scheme == "token":
        return hmac.compare_digest(given.encode(), secret.encode())
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    expected = f"sha256={digest}" if provider.name == "github" else digest
    return hmac.compare_digest(given.strip().lower().encode(), expected.encode())


def wanted(pushed: str, ref: str | None) -> bool:
    """Whether a push of ``pushed`` (``refs/heads/X``, ``refs/tags/X``) may have moved ``ref``:
    no ref (the newest tag) wants any tag; ``HEAD`` any branch (the watcher's own look decides)."""
    if ref is None:
        return pushed.startswith("refs/tags/")
    name = ref.removeprefix("origin/")
    if name == "HEAD":
        return pushed.startswith("refs/heads/")
    return pushed in {f"refs/heads/{name}", f"refs/tags/{name}", name}


def judge(
    headers: Mapping[str, str], body: bytes, secret: str, ref: str | None, deliveries: Deliveries
) -> Verdict:
    """The verdict on one request (the module's table); ``headers`` with lower-case names."""
    length = body_length(headers)
    if isinstance(length, Verdict):
        return length
    if length != len(body):
        return Verdict(400, "the body is shorter than its Content-Length")
    provider = next((p for p in PROVIDERS if p.event in headers), None)
    if provider is None:
        return Verdict(400, "not a GitHub, GitLab or Gitea webhook")
    given = headers.get(provider.signature)
    if not given:
        return Verdict(401, f"unsigned ({provider.signature} missing)", provider.name)
    if not signed(provider, given, body, secret):
        return Verdict(403, "bad signature", provider.name)
    delivery = headers.get(provider.delivery, "")
    if not delivery:
        return Verdict(400, f"no delivery id ({provider.delivery})", provider.name)
    if deliveries.seen(delivery):
        return Verdict(409, "replayed delivery", provider.name, delivery)
    event = headers[provider.event]
    if event not in provider.pushes:
        return Verdict(202, f"ignored: event {printable(event, 40)}", provider.name, delivery)
    try:
        pushed = json.loads(body)["ref"]
    except (ValueError, TypeError, KeyError):
        pushed = None
    if not isinstance(pushed, str):
        return Verdict(400, "a push body without a ref", provider.name, delivery)
    if not wanted(pushed, ref):
        return Verdict(202, f"ignored: {printable(pushed, 80)}", provider.name, delivery)
    return Verdict(202, "accepted", provider.name, delivery)
