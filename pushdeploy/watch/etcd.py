"""A small client of etcd's v3 JSON gateway: keys, prefix ranges and leases over plain HTTP.

``Etcd(host, port)`` speaks to one etcd member (3.4 or later; Debian's ``etcd-server``) through the
gateway every etcd serves next to gRPC: ``POST http://HOST:PORT/v3/<service>/<call>`` with a JSON
body whose keys and values are base64 and whose 64-bit integers (revisions, lease IDs, TTLs) are
decimal strings. Only the calls turns.py needs are here: ``put``, ``range`` (of one key or of a
prefix, sorted by creation), ``delete``, ``grant``, ``keepalive`` and ``revoke``.

Failures are one-line ``errors.ConnectionError``s naming the endpoint (etcd down, a timeout, an
answer that is not etcd's), with a hint; a lease etcd no longer knows is not a failure but an
answer (``keepalive`` returns 0, ``revoke`` does nothing). Requests never go through an HTTP proxy
of the environment: etcd sits on the servers' own network. No TLS and no etcd auth: keep etcd's
client port on a private network (docs/pull-fleet.md).
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

from pushdeploy.errors import ConnectionError

TIMEOUT = 5.0  # seconds one request may take
ANSWER_LIMIT = 4 << 20  # bytes of one answer read (a range of a whole fleet fits many times)
HINT = (
    "check that etcd runs there and answers ('curl http://{endpoint}/health'), and that"
    " rollout in deploy.conf names it"
)
NOT_FOUND = 5  # gRPC's NOT_FOUND: "etcdserver: requested lease not found"
ROLLOUT = re.compile(r"etcd://([^/:]+):(\d+)(/[A-Za-z0-9._/-]+)")
# No proxy from the environment (http_proxy is for the Internet, etcd is on our own network).
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Pair:
    """One key-value pair as etcd keeps it."""

    key: str
    value: bytes
    create_revision: int
    lease: int


class Etcd:
    """One etcd endpoint; each call is one HTTP request (safe to share between threads)."""

    def __init__(self, host: str, port: int, timeout: float = TIMEOUT) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def put(self, key: str, value: bytes, lease: int = 0) -> None:
        body: dict[str, Any] = {"key": encode(key.encode()), "value": encode(value)}
        self.call("kv/put", body | ({"lease": str(lease)} if lease else {}))

    def range(self, key: str, *, prefix: bool = False, limit: int = 0) -> list[Pair]:
        """The pair of ``key``, or with ``prefix`` every pair under it, oldest created first."""
        body: dict[str, Any] = {"key": encode(key.encode()), "limit": str(limit)}
        if prefix:
            body |= {"range_end": encode(range_end(key.encode()))}
            body |= {"sort_order": "ASCEND", "sort_target": "CREATE"}
        answer = self.call("kv/range", body)
        kvs = answer.get("kvs") or []
        return [pair(kv) for kv in kvs if isinstance(kv, dict)]

    def count(self, key: str) -> int:
        """How many keys there are under the prefix ``key``."""
        body = {"key": encode(key.encode()), "range_end": encode(range_end(key.encode()))}
        return integer(self.call("kv/range", body | {"count_only": True}).get("count"))

    def delete(self, key: str, *, prefix: bool = False) -> None:
        body = {"key": encode(key.encode())}
        self.call(
            "kv/deleterange",
            body | ({"range_end": encode(range_end(key.encode()))} if prefix else {}),
        )

    def grant(self, ttl: int) -> tuple[int, int]:
        """A new lease: its ID and the TTL etcd granted (it may raise a short one)."""
        answer = self.call("lease/grant", {"TTL": str(ttl)})
        return integer(answer.get("ID")), integer(answer.get("TTL"))

    def keepalive(self, lease: int, timeout: float | None = None) -> int:
        """Refresh ``lease``; the seconds it has left now, 0 when it has expired or is unknown."""
        answer = self.call("lease/keepalive", {"ID": str(lease)}, timeout)
        result = answer.get("result")  # a stream of one answer, since we sent one request
        return integer(result.get("TTL")) if isinstance(result, dict) else 0

    def revoke(self, lease: int) -> None:
        """End ``lease`` now, and delete every key attached to it; an unknown lease is no error."""
        self.call("lease/revoke", {"ID": str(lease)}, missing_ok=True)

    def call(
        self,
        path: str,
        body: dict[str, Any],
        timeout: float | None = None,
        *,
        missing_ok: bool = False,
    ) -> dict[str, Any]:
        """POST ``body`` to ``/v3/<path>``; the answer, or a one-line ConnectionError."""
        request = urllib.request.Request(
            f"http://{self.endpoint}/v3/{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with OPENER.open(request, timeout=timeout or self.timeout) as response:
                text = response.read(ANSWER_LIMIT)
        except urllib.error.HTTPError as error:
            said = answer_of(error.read(ANSWER_LIMIT))
            if missing_ok and said.get("code") == NOT_FOUND:
                return {}
            raise self.failure(f"{path} refused: {said.get('message') or error.reason}") from None
        except (OSError, ValueError, HTTPException) as error:  # URLError, timeouts, bad answers
            reason = getattr(error, "reason", None) or error
            raise self.failure(f"cannot reach it: {reason}") from None
        answer = answer_of(text)
        if not answer or "error" in answer:
            raise self.failure(f"{path} failed: {answer.get('message') or 'not an etcd answer'}")
        return answer

    def failure(self, what: str) -> ConnectionError:
        return ConnectionError(
            f"etcd at {self.endpoint}: {what}"[:300], HINT.format(endpoint=self.endpoint)
        )


def parse_rollout(rollout: str) -> tuple[Etcd, str]:
    """``etcd://HOST:PORT/PREFIX`` (values.etcd_rollout checked it) as a client and the prefix,
    without a trailing slash."""
    match = ROLLOUT.fullmatch(rollout.strip())
    if not match:  # config.py let nothing else through: a bug if it happens
        raise ValueError(f"not an etcd://HOST:PORT/PREFIX: {rollout!r}")
    return Etcd(match[1], int(match[2])), match[3].rstrip("/") or "/pushdeploy"


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def range_end(prefix: bytes) -> bytes:
    """The first key after every key that starts with ``prefix`` (etcd's "prefix" range end)."""
    trimmed = prefix.rstrip(b"\xff")
    return trimmed[:-1] + bytes([trimmed[-1] + 1]) if trimmed else b"\0"


def answer_of(text: bytes) -> dict[str, Any]:
    """The JSON object etcd answered with ({} when it is not one)."""
    try:
        answer = json.loads(text.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return {}
    return answer if isinstance(answer, dict) else {}


def integer(value: Any) -> int:
    """An int64 as the gateway writes it (a decimal string); 0 when absent or not a number."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return int(text) if re.fullmatch(r"-?\d{1,19}", text) else 0


def pair(kv: dict[str, Any]) -> Pair:
    def decoded(name: str) -> bytes:
        try:
            return base64.b64decode(str(kv.get(name) or ""), validate=True)
        except ValueError:
            return b""

    key = decoded("key").decode("utf-8", "replace")
    return Pair(key, decoded("value"), integer(kv.get("create_revision")), integer(kv.get("lease")))
