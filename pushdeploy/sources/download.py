"""Fetching a release artifact from an http(s) URL, on the server, checked as it streams.

The deploy script runs this file's text on the server (``python3 -c "$DOWNLOAD_PY" COMMAND ...``):
standard library only, Python 3.8+, nothing from pushdeploy. ``identity`` and ``fetch`` (see each)
print one line; a failure is one line on stderr and USAGE, FAILED, MISMATCH or NO_CHECKSUM.
Redirects are followed here, not by urllib: at most MAX_REDIRECTS, only to http(s), never from
https down to http. Credentials in the URL (basic auth) go only to the origin they were given
for, and show as ``user:***@``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import signal
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.client import HTTPException, HTTPResponse

USAGE, FAILED, MISMATCH, NO_CHECKSUM = 64, 70, 71, 72
MAX_REDIRECTS = 5
DEFAULT_TIMEOUT = 30.0
CHECKSUM_FILE_LIMIT = 4096
ETAG_LIMIT = 200
REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 1 << 16
URL_SAFE = ":/?#[]@!$&'()*+,;=%~"  # what a redirect's Location keeps as it is; the rest is quoted
TIMEOUTS = (socket.timeout, TimeoutError)  # one class since 3.10; the server may run 3.8
CHECKSUM_LINE = re.compile(r"([0-9a-fA-F]{64})(?:[ \t]+\*?\S.*)?\Z")  # coreutils, one file
OPTIONS = {  # an option: its value as a pattern, and in words
    "--sha256": ("[0-9a-fA-F]{64}", "64 hex digits"),
    "--if-none-match": (
        f"[ -~]{{1,{ETAG_LIMIT}}}",
        f"a printable ETag, {ETAG_LIMIT} characters at most",
    ),
    "--timeout": (r"[1-9]\d{0,5}(\.\d+)?|0?\.\d*[1-9]\d*", "a number of seconds above 0"),
}
COMMANDS = {"identity": (1, ("--sha256", "--timeout")), "fetch": (2, tuple(OPTIONS))}  # positionals
USAGE_LINE = "usage: identity|fetch URL [DEST] [--sha256 HEX] [--if-none-match ETAG] [--timeout S]"


class Failure(Exception):
    """One line for stderr, and the exit status that goes with it."""

    def __init__(self, message: str, status: int = FAILED) -> None:
        super().__init__(message)
        self.status = status


def printable(text: str, limit: int = 300) -> str:
    """``text`` for one line of a message: non-printable characters as ``?``, long text cut."""
    text = re.sub(r"[^ -~]", "?", text)
    return text if len(text) <= limit else text[:limit] + "..."


def shown(url: str) -> str:
    """``url`` for a message, with a password in its userinfo hidden (``user:***@``)."""
    return printable(re.sub(r"^([A-Za-z][\w+.-]*://[^/?#@:]*):[^/?#]*@", r"\1:***@", url))


def clean_etag(value: str | None) -> str:
    """An ETag as the server sent it, or "" when missing, over ETAG_LIMIT or not printable ASCII."""
    return value if value and len(value) <= ETAG_LIMIT and re.match(r"[ -~]+\Z", value) else ""


def url_parts(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL with a host and a valid port; None for the rest."""
    try:
        parts = urllib.parse.urlsplit(url)
        scheme, port = parts.scheme.lower(), parts.port
    except ValueError:
        return None
    if scheme not in ("http", "https") or not parts.hostname or port == 0:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def redirect_target(current: str, location: str | None, status: int) -> str:
    """The absolute URL a redirect leads to; Failure for one that must not be followed: without a
    Location, to a scheme other than http(s), or from https down to http (exposing credentials)."""
    if not location:
        raise Failure(f"HTTP {status} redirect from {shown(current)} without a Location")
    target = urllib.parse.quote(urllib.parse.urljoin(current, location.strip()), safe=URL_SAFE)
    parts = url_parts(target)
    if parts is None:
        raise Failure(f"redirect from {shown(current)} to a non-HTTP(S) location refused")
    if current.lower().startswith("https:") and parts[0] == "http":
        raise Failure(f"redirect from an https URL to http refused ({shown(current)})")
    return target


def credentials(url: str) -> tuple[str, str | None]:
    """``url`` without its userinfo, and the basic-auth Authorization header it stood for."""
    parts = urllib.parse.urlsplit(url)
    bare = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    if parts.username is None:
        return bare, None
    pair = urllib.parse.unquote(parts.username) + ":" + urllib.parse.unquote(parts.password or "")
    return bare, "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def reason_of(error: object) -> str:
    return printable(getattr(error, "strerror", None) or str(error) or type(error).__name__, 200)


class _EveryStatus(urllib.request.HTTPErrorProcessor):
    """Hands every answer back as it came: redirects and errors are decided by Download."""

    def http_response(self, request, response):  # type: ignore[no-untyped-def]
        return response

    https_response = http_response


class Download:
    """Requests for one URL, redirects followed; ``url`` is the current one, ``first`` the given."""

    def __init__(self, url: str, timeout: float) -> None:
        self.first = self.url = url
        self.timeout = timeout
        self.opener = urllib.request.build_opener(_EveryStatus)

    def where(self) -> str:  # for messages: after a redirect, the final URL and the first
        since = "" if self.url == self.first else f" (redirected from {shown(self.first)})"
        return shown(self.url) + since

    def broken(self, error: BaseException, what: str) -> Failure:
        if isinstance(error, TIMEOUTS):
            return Failure(f"timed out after {self.timeout:g} s reading {self.where()}")
        return Failure(f"{what}: {reason_of(error)}")

    def open(self, method: str, headers: dict[str, str], accept: tuple[int, ...]) -> HTTPResponse:
        """The first answer that is not a redirect; Failure unless its status is in ``accept``."""
        headers = {**headers, "User-Agent": "pushdeploy", "Accept-Encoding": "identity"}
        bare, auth = credentials(self.url)
        for hop in range(MAX_REDIRECTS + 1):
            request = urllib.request.Request(bare, headers=headers, method=method)
            if auth:
                request.add_header("Authorization", auth)
            response = self._send(request)
            if response.status in accept:
                return response
            response.close()
            if response.status not in REDIRECTS:
                status = f"{response.status} {printable(response.reason or '', 80)}".strip()
                raise Failure(f"HTTP {status} from {self.where()}")
            if hop == MAX_REDIRECTS:
                break
            target = redirect_target(self.url, response.headers.get("Location"), response.status)
            bare, given = credentials(target)
            if given or url_parts(target) != url_parts(self.url):
                auth = given  # credentials stay with the origin they were given for
            self.url = target
        raise Failure(f"too many redirects (over {MAX_REDIRECTS}) from {shown(self.first)}")

    def _send(self, request: urllib.request.Request) -> HTTPResponse:
        try:
            response: HTTPResponse = self.opener.open(request, timeout=self.timeout)
            return response
        except urllib.error.URLError as error:  # before an answer: resolving, connecting, sending
            _, host, port = url_parts(self.url) or ("", "?", 0)
            host = f"[{host}]" if ":" in host else host
            raise Failure(f"cannot connect to {host}:{port}: {reason_of(error.reason)}") from None
        except (OSError, HTTPException) as error:
            raise self.broken(error, f"no HTTP answer from {self.where()}") from None

    def stream(
        self, response: HTTPResponse, write: Callable[[bytes], object], limit: int = 0
    ) -> tuple[str, int, str]:
        """Copies the body to ``write``: (SHA-256 hex, size, base64 MD5 when Content-MD5 came)."""
        expected = response.length  # from Content-Length; None when absent or chunked
        md5 = hashlib.md5() if response.headers.get("Content-MD5") else None  # not all FIPS
        sha256, size = hashlib.sha256(), 0
        while True:
            try:
                chunk = response.read(CHUNK)
            except (OSError, HTTPException) as error:
                what = f"the body of {self.where()} broke after {size} bytes"
                raise self.broken(error, what) from None
            if not chunk:
                break
            sha256.update(chunk)
            if md5:
                md5.update(chunk)
            size += len(chunk)
            if limit and size > limit:
                raise Failure(f"{self.where()} is over {limit} bytes")
            write(chunk)
        if expected is not None and size != expected:
            raise Failure(f"the body of {self.where()} ended after {size} of {expected} bytes")
        return sha256.hexdigest(), size, base64.b64encode(md5.digest()).decode() if md5 else ""


def identity(url: str, sha256: str, timeout: float) -> str:
    """``sha256 HEX`` from --sha256, else from the one line of ``URL.sha256`` (``HEX  NAME`` or
    ``HEX``; NAME is not checked); when that is a 404/410, ``etag ETAG`` from a HEAD of URL."""
    if sha256:
        return "sha256 " + sha256
    parts = urllib.parse.urlsplit(url)  # URL.sha256: after the path, before a query string
    sums = Download(urllib.parse.urlunsplit(parts._replace(path=parts.path + ".sha256")), timeout)
    with contextlib.closing(sums.open("GET", {}, (200, 404, 410))) as response:
        if response.status == 200:
            body = bytearray()
            sums.stream(response, body.extend, CHECKSUM_FILE_LIMIT)
            found = CHECKSUM_LINE.match(body.decode("ascii", "replace").strip())
            if not found:
                raise Failure(f"malformed checksum file {sums.where()}: not 'HEX  NAME' or 'HEX'")
            return "sha256 " + found.group(1).lower()
    with contextlib.closing(Download(url, timeout).open("HEAD", {}, (200,))) as response:
        etag = clean_etag(response.headers.get("ETag"))
    if not etag:
        how = "set artifact-sha256, publish URL.sha256, or serve an ETag"
        raise Failure(f"no checksum for {shown(url)}: {how}", NO_CHECKSUM)
    return "etag " + etag


def fetch(url: str, dest: str, sha256: str, if_none_match: str, timeout: float) -> str:
    """Streams URL into ``DEST.part``, checks it (--sha256, Content-MD5, Content-Length), fsyncs
    it and renames it to ``dest``: ``sha256=HEX size=N etag=ETAG``; ``unchanged`` after a 304."""
    download, part = Download(url, timeout), dest + ".part"
    condition = {"If-None-Match": if_none_match} if if_none_match else {}
    accept = (200, 304) if condition else (200,)
    with contextlib.closing(download.open("GET", condition, accept)) as response:
        if response.status == 304:
            return "unchanged"
        try:
            with open(part, "wb") as out:
                digest, size, md5 = download.stream(response, out.write)
                out.flush()
                os.fsync(out.fileno())
            sent_md5 = (response.headers.get("Content-MD5") or "").strip()
            for name, want, got in (("", sha256, digest), ("Content-MD5 ", sent_md5, md5)):
                if want and want != got:
                    what = f"expected {name}{printable(want, 100)}, got {got}"
                    raise Failure(f"checksum mismatch: {what} ({download.where()})", MISMATCH)
            os.replace(part, dest)
        except BaseException as error:
            with contextlib.suppress(OSError):
                os.unlink(part)
            if isinstance(error, OSError):
                raise Failure(f"cannot save {printable(dest)}: {reason_of(error)}") from None
            raise
    return f"sha256={digest} size={size} etag={clean_etag(response.headers.get('ETag'))}"


def parse_args(argv: list[str]) -> tuple[str, list[str], dict[str, str]]:
    """(command, positionals, options), each value checked; Failure(USAGE) for anything else."""
    command, rest, positionals, options = (argv or [""])[0], list(argv[1:]), [], {}
    if command not in COMMANDS:
        raise Failure(USAGE_LINE, USAGE)
    while rest:
        name, eq, value = rest.pop(0).partition("=")
        if name in COMMANDS[command][1]:
            value = options[name] = value if eq else (rest.pop(0) if rest else "")
            pattern, wanted = OPTIONS[name]
            if not re.match(f"(?:{pattern})\\Z", value):
                raise Failure(f"{name} needs {wanted}, got {printable(value, 80)!r}", USAGE)
        elif name.startswith("--"):
            raise Failure(f"unknown option {printable(name)}; {USAGE_LINE}", USAGE)
        else:
            positionals.append(name + eq + value)
    if len(positionals) != COMMANDS[command][0] or not all(positionals):
        raise Failure(USAGE_LINE, USAGE)
    if url_parts(positionals[0]) is None:
        raise Failure(f"not an http(s) URL: {shown(positionals[0])}", USAGE)
    return command, positionals, options


def main(argv: list[str]) -> int:
    """Runs one command: its line on stdout and 0, or one line on stderr and its status."""
    try:
        command, positionals, options = parse_args(argv)
        sha256 = options.get("--sha256", "").lower()
        timeout = float(options.get("--timeout", DEFAULT_TIMEOUT))
        if command == "identity":
            print(identity(positionals[0], sha256, timeout), flush=True)
        else:
            etag = options.get("--if-none-match", "")
            print(fetch(positionals[0], positionals[1], sha256, etag, timeout), flush=True)
        return 0
    except Failure as failure:
        print(failure, file=sys.stderr)
        return failure.status
    except Exception as error:  # a bug: still one line, never a traceback
        print(f"internal error: {type(error).__name__}: {printable(str(error))}", file=sys.stderr)
        return FAILED


if __name__ == "__main__":
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # out through fetch()'s clean-up
        signal.signal(signum, lambda number, frame: sys.exit(128 + number))
    sys.exit(main(sys.argv[1:]))
