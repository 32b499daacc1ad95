"""webhooks.py: a push webhook is accepted only when signed, fresh, small, a push, of the ref."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from pushdeploy.errors import UsageError
from pushdeploy.watch import listener, webhooks
from pushdeploy.watch.webhooks import Deliveries, Verdict, judge

SECRET = "s3cret-webhook-key"
PUSH = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()


def hex_hmac(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers_of(
    provider: str, body: bytes, *, secret: str = SECRET, event: str = "", delivery: str = "d-1"
) -> dict[str, str]:
    """What each forge sends with a push, signed with ``secret`` (lower-case names)."""
    length = {"content-length": str(len(body))}
    if provider == "github":
        return length | {
            "x-github-event": event or "push",
            "x-github-delivery": delivery,
            "x-hub-signature-256": "sha256=" + hex_hmac(body, secret),
        }
    if provider == "gitlab":
        return length | {
            "x-gitlab-event": event or "Push Hook",
            "x-gitlab-event-uuid": delivery,
            "x-gitlab-token": secret,
        }
    return length | {  # Gitea sends GitHub's headers too, signed alike
        "x-gitea-event": event or "push",
        "x-gitea-delivery": delivery,
        "x-gitea-signature": hex_hmac(body, secret),
        "x-github-event": event or "push",
        "x-hub-signature-256": "sha256=" + hex_hmac(body, secret),
    }


SIGNATURE = {
    "github": "x-hub-signature-256",
    "gitlab": "x-gitlab-token",
    "gitea": "x-gitea-signature",
}
OTHER_EVENT = {"github": "issues", "gitlab": "Merge Request Hook", "gitea": "create"}


def verdict_of(provider: str, case: str) -> tuple[int, str]:
    body, deliveries = PUSH, Deliveries()
    headers = headers_of(provider, body)
    if case == "unsigned":
        del headers[SIGNATURE[provider]]
    elif case == "bad signature":
        headers = headers_of(provider, body, secret="not-the-secret")
    elif case == "oversized":
        headers["content-length"], body = str(webhooks.LIMIT + 1), b""
    elif case == "no length":
        del headers["content-length"]
    elif case == "replayed":
        judge(headers, body, SECRET, "main", deliveries)
    elif case == "other event":
        headers = headers_of(provider, body, event=OTHER_EVENT[provider])
    elif case == "other ref":
        body = json.dumps({"ref": "refs/heads/dev"}).encode()
        headers = headers_of(provider, body)
    verdict = judge(headers, body, SECRET, "main", deliveries)
    return verdict.status, verdict.reason


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("good", (202, "accepted")),
        ("bad signature", (403, "bad signature")),
        ("oversized", (413, f"over {webhooks.LIMIT} bytes")),
        ("no length", (411, "a Content-Length is required")),
        ("replayed", (409, "replayed delivery")),
        ("other ref", (202, "ignored: refs/heads/dev")),
    ],
)
def test_each_providers_requests_get_their_verdict(
    provider: str, case: str, expected: tuple[int, str]
) -> None:
    assert expected == verdict_of(provider, case)


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_an_unsigned_request_is_refused_naming_the_missing_header(provider: str) -> None:
    assert (401, f"unsigned ({SIGNATURE[provider]} missing)") == verdict_of(provider, "unsigned")


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_an_event_other_than_a_push_is_ignored(provider: str) -> None:
    assert (202, f"ignored: event {OTHER_EVENT[provider]}") == verdict_of(provider, "other event")


def test_a_signature_is_checked_before_the_delivery_id_is_remembered() -> None:
    """A forged request cannot burn the id of the real one that follows."""
    deliveries = Deliveries()
    forged = headers_of("github", PUSH, secret="wrong", delivery="d-7")
    assert judge(forged, PUSH, SECRET, "main", deliveries).status == 403
    assert (
        judge(headers_of("github", PUSH, delivery="d-7"), PUSH, SECRET, "main", deliveries).status
        == 202
    )


def test_a_body_signed_then_changed_is_refused() -> None:
    headers = headers_of("github", PUSH)
    changed = PUSH.replace(b"main", b"mail")
    verdict = judge(headers, changed, SECRET, "main", Deliveries())
    assert (verdict.status, verdict.reason) == (403, "bad signature")


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"content-length": "12", "transfer-encoding": "chunked"}, b"", (411, "a Content-Length is required")),
        ({"content-length": "-1"}, b"", (400, "bad Content-Length")),
        ({"content-length": "1e3"}, b"", (400, "bad Content-Length")),
        ({"content-length": "10"}, b"short", (400, "the body is shorter than its Content-Length")),
        ({"content-length": "2"}, b"{}", (400, "not a GitHub, GitLab or Gitea webhook")),
    ],
)  # fmt: skip
def test_malformed_requests_are_refused(
    headers: dict[str, str], body: bytes, expected: tuple[int, str]
) -> None:
    verdict = judge(headers, body, SECRET, "main", Deliveries())
    assert expected == (verdict.status, verdict.reason)


def test_a_signed_push_without_a_ref_is_a_bad_request() -> None:
    body = b'{"zen": "hi"}'
    verdict = judge(headers_of("gitea", body), body, SECRET, "main", Deliveries())
    assert (verdict.status, verdict.reason) == (400, "a push body without a ref")


def test_a_signed_request_without_a_delivery_id_is_a_bad_request() -> None:
    headers = headers_of("github", PUSH)
    del headers["x-github-delivery"]
    verdict = judge(headers, PUSH, SECRET, "main", Deliveries())
    assert (verdict.status, verdict.reason) == (400, "no delivery id (x-github-delivery)")


@pytest.mark.parametrize(
    ("pushed", "ref", "expected"),
    [
        ("refs/heads/main", "main", True),
        ("refs/heads/main", "origin/main", True),
        ("refs/tags/v2", "v2", True),
        ("refs/heads/maint", "main", False),
        ("refs/heads/feature/main", "main", False),
        ("refs/tags/v2", None, True),  # no ref: the newest tag, so any tag
        ("refs/heads/main", None, False),
        ("refs/heads/anything", "origin/HEAD", True),  # the watcher's look decides
        ("refs/tags/v1", "origin/HEAD", False),
    ],
)
def test_which_pushed_refs_wake_the_watcher(pushed: str, ref: str | None, expected: bool) -> None:
    assert expected == webhooks.wanted(pushed, ref)


def test_deliveries_remember_only_the_last_ones() -> None:
    deliveries = Deliveries(size=2)
    assert [deliveries.seen(d) for d in ("a", "b", "c", "c", "a")] == [
        False,
        False,
        False,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:8780", ("127.0.0.1", 8780)), ("[::1]:0", ("::1", 0)), ("localhost:80", ("localhost", 80))],
)  # fmt: skip
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert expected == listener.parse_address(text)


@pytest.mark.parametrize("text", ["8780", ":8780", "127.0.0.1:", "127.0.0.1:99999", "a b:1"])
def test_bad_listen_addresses_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="expected HOST:PORT"):
        listener.parse_address(text)


class Heard:
    """A running Listener on a free loopback port, what it said and how often it woke."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.pushes = threading.Semaphore(0)
        self.listener = listener.Listener(
            ("127.0.0.1", 0), SECRET, "main", self.pushes.release, self.lines.append
        )
        self.host, self.port = self.listener.start()

    def post(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, object]]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            connection.putrequest("POST", "/hook", skip_accept_encoding=True)
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def said(self, count: int, timeout: float = 10.0) -> list[str]:
        """The lines once there are ``count`` of them (a line follows its answer); fail after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.lines) < count:
            assert time.monotonic() < deadline, f"{count} lines never came: {self.lines}"
            time.sleep(0.01)
        return self.lines

    def send_and_hang_up(self, data: bytes, reset: bool = False) -> None:
        """A client that sends ``data`` and closes (with ``reset``: an RST, not a FIN)."""
        with socket.create_connection((self.host, self.port), timeout=10) as sock:
            sock.sendall(data)
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.fixture
def heard() -> Iterator[Heard]:
    listening = Heard()
    yield listening
    listening.listener.close()


def test_the_listener_answers_and_wakes_the_watcher_for_an_accepted_push(heard: Heard) -> None:
    status, answer = heard.post(headers_of("github", PUSH, delivery="abc"), PUSH)
    assert (status, answer) == (202, {"status": 202, "reason": "accepted"})
    assert heard.pushes.acquire(timeout=5)
    assert heard.lines == ["webhook: 202 accepted (github, abc)"]


def test_the_listener_never_says_the_secret(heard: Heard) -> None:
    headers = headers_of("gitlab", PUSH)
    headers["x-gitlab-token"] = SECRET + "x"
    assert heard.post(headers, PUSH)[0] == 403
    assert heard.post(headers_of("gitlab", PUSH), PUSH)[0] == 202
    assert [line for line in heard.lines if SECRET in line] == []


def test_an_oversized_body_is_refused_before_it_is_sent(heard: Heard) -> None:
    """The answer comes on the headers alone: the body is never read (nor sent here)."""
    with socket.create_connection((heard.host, heard.port), timeout=10) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
            + f"Content-Length: {webhooks.LIMIT + 1}\r\n\r\n".encode()
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.0 413 ")


def test_a_get_is_not_allowed(heard: Heard) -> None:
    connection = http.client.HTTPConnection(heard.host, heard.port, timeout=10)
    connection.request("GET", "/")
    assert connection.getresponse().status == 405
    connection.close()


def test_a_port_in_use_is_a_usage_error(heard: Heard) -> None:
    other = listener.Listener((heard.host, heard.port), SECRET, "main", lambda: None, print)
    with pytest.raises(UsageError, match="cannot listen"):
        other.start()


def test_a_verdict_is_accepted_only_for_the_ref() -> None:
    assert [Verdict(202, "accepted").accepted, Verdict(202, "ignored: x").accepted] == [True, False]


HALF_HEADERS = b"POST / HTTP/1.1\r\nHost: x\r\nX-GitHub-Ev"


@pytest.mark.parametrize(
    ("sent", "reset", "expected"),
    [
        (HALF_HEADERS, False, "webhook: 411 a Content-Length is required"),
        (b"POST / HTT", False, "webhook: 400 Bad request version ('HTT')"),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n{}",
            False,
            "webhook: 400 the body is shorter than its Content-Length",
        ),
        (HALF_HEADERS, True, "webhook: 400 the client hung up mid-request (ConnectionResetError)"),
    ],
)
def test_a_client_that_hangs_up_mid_request_is_one_line_and_the_listener_serves_on(
    heard: Heard, capfd: pytest.CaptureFixture[str], sent: bytes, reset: bool, expected: str
) -> None:
    """Its line may say it got no answer (it was gone); never a traceback; the next is served."""
    heard.send_and_hang_up(sent, reset)
    (line,) = heard.said(1)
    assert line.removesuffix(" (not answered: the client hung up)") == expected
    assert heard.post(headers_of("github", PUSH, delivery="next"), PUSH)[0] == 202
    assert heard.said(2)[1:] == ["webhook: 202 accepted (github, next)"]
    assert "Traceback" not in capfd.readouterr().err


def test_a_client_that_says_nothing_in_time_is_one_line(
    heard: Heard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listener._Handler, "timeout", 0.2)
    with socket.create_connection((heard.host, heard.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.0 408 ")
    assert heard.said(1) == ["webhook: 408 no whole request within 0.2 s"]


def test_a_connection_that_sends_nothing_is_no_request(heard: Heard) -> None:
    heard.send_and_hang_up(b"")
    assert heard.post(headers_of("github", PUSH, delivery="only"), PUSH)[0] == 202
    assert heard.said(1) == ["webhook: 202 accepted (github, only)"]
