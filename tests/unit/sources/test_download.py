"""download.py, run as the server runs it (``python3 -c SOURCE ...``) against a real HTTP server.

Each test starts tests/support/httpfiles.py on 127.0.0.1 and checks what the contract promises: the
exit status, the one line on stdout or stderr, the files left in DEST's directory, and (from the
server's request log) what was asked for.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pushdeploy.sources import download
from tests.support.httpfiles import HTTPFiles, Route, basic, content_md5, redirect

SOURCE = Path(download.__file__).read_text(encoding="utf-8")
BODY = b"release tarball bytes\n" * 100
DIGEST = hashlib.sha256(BODY).hexdigest()
NO_CHECKSUM_HINT = "set artifact-sha256, publish URL.sha256, or serve an ETag"


@dataclass(frozen=True)
class Done:
    status: int
    out: str
    err: str


def run(*args: str, timeout: float = 30) -> Done:
    """download.py in a fresh isolated interpreter (``-I``: no pushdeploy on its path)."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    done = subprocess.run(
        [sys.executable, "-I", "-c", SOURCE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    return Done(done.returncode, done.stdout, done.stderr)


def call(*args: str) -> Done:
    """download.main in this process: for the tables, where a process each would cost seconds."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = download.main(list(args))
    return Done(status, out.getvalue(), err.getvalue())


def failed(done: Done) -> tuple[int, str, str]:
    """(status, stdout, the stderr line) of a run that must have written exactly one line."""
    assert done.err.count("\n") == 1 and done.err.endswith("\n"), done.err
    return done.status, done.out, done.err.rstrip("\n")


def listing(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


@pytest.fixture
def files() -> Iterator[HTTPFiles]:
    with HTTPFiles() as server:
        yield server


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    directory = tmp_path / "uploads"
    directory.mkdir()
    return directory / "app.download"


# identity --------------------------------------------------------------------------------------


def test_identity_with_a_given_digest_prints_it_lowercased_and_asks_nothing(
    files: HTTPFiles,
) -> None:
    done = run("identity", files.url("/app.tar.gz"), "--sha256", DIGEST.upper())
    assert (0, f"sha256 {DIGEST}\n", "", []) == (done.status, done.out, done.err, files.asked())


@pytest.mark.parametrize(
    "text",
    [
        f"{DIGEST}  app.tar.gz\n",
        f"{DIGEST}\n",
        f"{DIGEST.upper()} *app.tar.gz",
        f"{DIGEST}  dist/app.tar.gz\r\n",
        f"{DIGEST}  another-name.tar.gz\n",
    ],
    ids=["coreutils", "bare", "binary-mode-uppercase", "path-crlf", "name-not-checked"],
)
def test_identity_reads_the_checksum_file_beside_the_url_without_downloading_the_artifact(
    files: HTTPFiles, text: str
) -> None:
    files.routes = {"/app.tar.gz.sha256": Route(text.encode()), "/app.tar.gz": Route(BODY)}
    done = call("identity", files.url("/app.tar.gz"))
    assert (0, f"sha256 {DIGEST}\n", "") == (done.status, done.out, done.err)
    assert files.asked() == [("GET", "/app.tar.gz.sha256")]


def test_the_checksum_file_goes_before_a_query_string(files: HTTPFiles) -> None:
    files.routes = {"/app.tar.gz.sha256?v=2": Route(DIGEST.encode())}
    assert f"sha256 {DIGEST}\n" == run("identity", files.url("/app.tar.gz?v=2")).out


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>not found</html>", "malformed checksum file {url}: not 'HEX  NAME' or 'HEX'"),
        (b"abc123  app.tar.gz\n", "malformed checksum file {url}: not 'HEX  NAME' or 'HEX'"),
        (b"", "malformed checksum file {url}: not 'HEX  NAME' or 'HEX'"),
        (f"{DIGEST}  a.tgz\n{DIGEST}  b.tgz\n".encode(), "malformed checksum file {url}: not 'HEX  NAME' or 'HEX'"),
        (f"{DIGEST}  app.tar.gz\n".encode() * 100, "{url} is over 4096 bytes"),
    ],
    ids=["html", "short-hex", "empty", "several-lines", "too-large"],
)  # fmt: skip
def test_a_checksum_file_that_is_not_one_is_an_error(
    files: HTTPFiles, body: bytes, message: str
) -> None:
    files.routes = {"/app.tar.gz.sha256": Route(body), "/app.tar.gz": Route(BODY, etag='"v1"')}
    done = call("identity", files.url("/app.tar.gz"))
    expected = message.format(url=files.url("/app.tar.gz.sha256"))
    assert (70, "", expected) == failed(done)


@pytest.mark.parametrize("status", [404, 410])
def test_without_a_checksum_file_identity_is_the_etag_from_a_head_request(
    files: HTTPFiles, status: int
) -> None:
    files.routes = {
        "/app.tar.gz.sha256": Route(status=status),
        "/app.tar.gz": Route(BODY, etag='W/"5f-abc"'),
    }
    done = run("identity", files.url("/app.tar.gz"))
    assert (done.status, done.out, done.err) == (0, 'etag W/"5f-abc"\n', "")
    assert files.asked() == [("GET", "/app.tar.gz.sha256"), ("HEAD", "/app.tar.gz")]


@pytest.mark.parametrize(
    "headers",
    [{}, {"ETag": '"' + "x" * 199 + '"'}, {"ETag": '"caf\u00e9"'}],
    ids=["none", "too-long", "not-ascii"],
)
def test_without_a_checksum_or_a_usable_etag_identity_exits_72(
    files: HTTPFiles, headers: dict[str, str]
) -> None:
    files.routes = {"/app.tar.gz": Route(BODY, headers=headers)}
    url = files.url("/app.tar.gz")
    expected = (72, "", f"no checksum for {url}: {NO_CHECKSUM_HINT}")
    assert expected == failed(run("identity", url))


def test_an_error_answer_for_the_checksum_file_is_not_taken_for_its_absence(
    files: HTTPFiles,
) -> None:
    files.routes = {"/app.tar.gz.sha256": Route(status=500), "/app.tar.gz": Route(etag='"v1"')}
    url = files.url("/app.tar.gz")
    assert (70, "", f"HTTP 500 Internal Server Error from {url}.sha256") == failed(
        run("identity", url)
    )


def test_identity_of_a_missing_artifact_says_so(files: HTTPFiles) -> None:
    url = files.url("/app.tar.gz")
    assert (70, "", f"HTTP 404 Not Found from {url}") == failed(run("identity", url))


# fetch -----------------------------------------------------------------------------------------


def test_fetch_writes_dest_and_prints_its_digest_size_and_etag(
    files: HTTPFiles, dest: Path
) -> None:
    files.routes = {"/app.tar.gz": Route(BODY, etag='"v1"')}
    done = run("fetch", files.url("/app.tar.gz"), str(dest), "--sha256", DIGEST)
    assert (0, f'sha256={DIGEST} size={len(BODY)} etag="v1"\n', "") == (
        done.status,
        done.out,
        done.err,
    )
    assert (dest.read_bytes(), listing(dest.parent)) == (BODY, ["app.download"])


def test_fetch_without_an_etag_prints_it_empty(files: HTTPFiles, dest: Path) -> None:
    files.routes = {"/app.tar.gz": Route(BODY)}
    done = run("fetch", files.url("/app.tar.gz"), str(dest))
    assert f"sha256={DIGEST} size={len(BODY)} etag=\n" == done.out


def test_a_digest_mismatch_exits_71_and_leaves_no_file(files: HTTPFiles, dest: Path) -> None:
    files.routes = {"/app.tar.gz": Route(BODY)}
    url = files.url("/app.tar.gz")
    done = run("fetch", url, str(dest), "--sha256", "0" * 64)
    expected = f"checksum mismatch: expected {'0' * 64}, got {DIGEST} ({url})"
    assert ((71, "", expected), []) == (failed(done), listing(dest.parent))


def test_a_right_content_md5_is_accepted(files: HTTPFiles, dest: Path) -> None:
    files.routes = {"/app.tar.gz": Route(BODY, headers={"Content-MD5": content_md5(BODY)})}
    assert run("fetch", files.url("/app.tar.gz"), str(dest)).status == 0
    assert dest.read_bytes() == BODY


def test_a_wrong_content_md5_exits_71_and_leaves_no_file(files: HTTPFiles, dest: Path) -> None:
    wrong = content_md5(b"something else")
    files.routes = {"/app.tar.gz": Route(BODY, headers={"Content-MD5": wrong})}
    url = files.url("/app.tar.gz")
    expected = f"checksum mismatch: expected Content-MD5 {wrong}, got {content_md5(BODY)} ({url})"
    assert ((71, "", expected), []) == (failed(run("fetch", url, str(dest))), listing(dest.parent))


def test_a_body_shorter_than_its_content_length_is_an_error(files: HTTPFiles, dest: Path) -> None:
    files.routes = {"/app.tar.gz": Route(BODY, truncate=1000)}
    url = files.url("/app.tar.gz")
    expected = f"the body of {url} ended after 1000 of {len(BODY)} bytes"
    assert ((70, "", expected), []) == (failed(run("fetch", url, str(dest))), listing(dest.parent))


def test_an_unchanged_etag_answers_unchanged_and_writes_nothing(
    files: HTTPFiles, dest: Path
) -> None:
    files.routes = {"/app.tar.gz": Route(BODY, etag='"v1"')}
    done = run("fetch", files.url("/app.tar.gz"), str(dest), "--if-none-match", '"v1"')
    assert (done.status, done.out, done.err, listing(dest.parent)) == (0, "unchanged\n", "", [])
    assert files.requests[0].headers["if-none-match"] == '"v1"'


def test_a_changed_etag_downloads_the_new_body(files: HTTPFiles, dest: Path) -> None:
    files.routes = {"/app.tar.gz": Route(BODY, etag='"v2"')}
    done = run("fetch", files.url("/app.tar.gz"), str(dest), "--if-none-match", '"v1"')
    assert (f'sha256={DIGEST} size={len(BODY)} etag="v2"\n', BODY) == (done.out, dest.read_bytes())


def test_a_large_body_is_streamed_not_held_in_memory(files: HTTPFiles, dest: Path) -> None:
    """64 MiB through a process whose peak memory stays far below that."""
    block = os.urandom(1 << 20)
    files.routes = {"/big.tar.gz": Route(block, repeat=64)}
    digest = hashlib.sha256()
    for _ in range(64):
        digest.update(block)
    code = (
        "import resource, subprocess, sys; "
        "done = subprocess.run([sys.executable, '-I', '-c', sys.argv[1], *sys.argv[2:]]); "
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    args = ["fetch", files.url("/big.tar.gz"), str(dest)]
    done = subprocess.run(
        [sys.executable, "-I", "-c", code, SOURCE, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    status, peak_kib = map(int, done.stdout.split("\n")[-2].split())
    first = done.stdout.split("\n")[0]
    assert (0, f"sha256={digest.hexdigest()} size={64 << 20} etag=") == (status, first)
    assert peak_kib < 40 * 1024, f"peak RSS {peak_kib} KiB"


def test_fetch_into_a_missing_directory_is_one_line(files: HTTPFiles, tmp_path: Path) -> None:
    files.routes = {"/app.tar.gz": Route(BODY)}
    dest = tmp_path / "absent" / "app.download"
    status, out, err = failed(run("fetch", files.url("/app.tar.gz"), str(dest)))
    assert (70, "", f"cannot save {dest}: No such file or directory") == (status, out, err)


# redirects -------------------------------------------------------------------------------------


def test_a_redirect_chain_of_every_kind_is_followed(files: HTTPFiles, dest: Path) -> None:
    files.routes = {
        "/a": redirect("/b", 301),
        "/b": redirect(files.url("/c"), 302),
        "/c": redirect("d", 303),
        "/d": redirect("/e", 307),
        "/e": redirect("/app.tar.gz", 308),
        "/app.tar.gz": Route(BODY),
    }
    done = run("fetch", files.url("/a"), str(dest), "--sha256", DIGEST)
    assert (done.status, done.err) == (0, "")
    paths = [path for _, path in files.asked()]
    assert (paths, dest.read_bytes()) == (["/a", "/b", "/c", "/d", "/e", "/app.tar.gz"], BODY)


def test_more_than_five_redirects_are_refused(files: HTTPFiles, dest: Path) -> None:
    files.routes = {f"/{n}": redirect(f"/{n + 1}") for n in range(6)}
    files.routes["/6"] = Route(BODY)
    url = files.url("/0")
    expected = f"too many redirects (over 5) from {url}"
    assert (70, "", expected) == failed(run("fetch", url, str(dest)))
    assert len(files.asked()) == 6


def test_a_redirect_loop_ends(files: HTTPFiles, dest: Path) -> None:
    files.routes = {"/a": redirect("/b"), "/b": redirect("/a")}
    url = files.url("/a")
    expected = f"too many redirects (over 5) from {url}"
    assert (70, "", expected) == failed(run("fetch", url, str(dest)))


def test_a_redirect_to_another_scheme_is_refused(files: HTTPFiles, dest: Path) -> None:
    files.routes = {"/a": redirect("/b"), "/b": redirect("ftp://127.0.0.1/app.tar.gz")}
    url = files.url("/a")
    expected = f"redirect from {files.url('/b')} to a non-HTTP(S) location refused"
    assert ((70, "", expected), []) == (failed(run("fetch", url, str(dest))), listing(dest.parent))


def test_an_error_after_a_redirect_names_the_final_url(files: HTTPFiles, dest: Path) -> None:
    files.routes = {"/a": redirect("/gone", 301)}
    url = files.url("/a")
    expected = f"HTTP 404 Not Found from {files.url('/gone')} (redirected from {url})"
    assert (70, "", expected) == failed(run("fetch", url, str(dest)))


@pytest.mark.parametrize(
    ("current", "location", "expected"),
    [
        ("https://a.test/x", "https://b.test/y", "https://b.test/y"),
        ("http://a.test/x", "https://b.test/y", "https://b.test/y"),
        ("http://a.test/dir/x", "y?q=1", "http://a.test/dir/y?q=1"),
        ("https://a.test/x", "//b.test/y z", "https://b.test/y%20z"),
    ],
)
def test_a_redirect_target_is_made_absolute(current: str, location: str, expected: str) -> None:
    assert expected == download.redirect_target(current, location, 302)


@pytest.mark.parametrize(
    ("current", "location", "message"),
    [
        ("https://a.test/x", "http://a.test/x", "redirect from an https URL to http refused (https://a.test/x)"),
        ("https://u:pw@a.test/x", "HTTP://b.test/", "redirect from an https URL to http refused (https://u:***@a.test/x)"),
        ("http://a.test/x", "file:///etc/passwd", "redirect from http://a.test/x to a non-HTTP(S) location refused"),
        ("http://a.test/x", "javascript:alert(1)", "redirect from http://a.test/x to a non-HTTP(S) location refused"),
        ("http://a.test/x", "", "HTTP 302 redirect from http://a.test/x without a Location"),
    ],
)  # fmt: skip
def test_a_redirect_that_must_not_be_followed_is_refused(
    current: str, location: str, message: str
) -> None:
    with pytest.raises(download.Failure) as refused:
        download.redirect_target(current, location, 302)
    assert (message, 70) == (str(refused.value), refused.value.status)


# credentials, errors, usage --------------------------------------------------------------------


def test_basic_auth_from_the_url_is_sent_and_its_password_never_shown(
    files: HTTPFiles, dest: Path
) -> None:
    files.routes = {"/app.tar.gz": Route(BODY, auth=("deploy", "s3cret"))}
    assert run("fetch", files.url("/app.tar.gz", "deploy:s3cret"), str(dest)).status == 0
    assert basic("deploy", "s3cret") == files.requests[0].headers["authorization"]
    done = run("fetch", files.url("/missing", "deploy:s3cret"), str(dest))
    assert f"HTTP 404 Not Found from {files.url('/missing', 'deploy:***')}\n" == done.err


def test_a_wrong_password_is_a_401(files: HTTPFiles, dest: Path) -> None:
    files.routes = {"/app.tar.gz": Route(BODY, auth=("deploy", "s3cret"))}
    status, _, err = failed(run("fetch", files.url("/app.tar.gz", "deploy:nope"), str(dest)))
    assert (70, f"HTTP 401 Unauthorized from {files.url('/app.tar.gz', 'deploy:***')}") == (
        status,
        err,
    )


def test_credentials_stay_with_their_origin_across_redirects(dest: Path) -> None:
    with HTTPFiles({"/app.tar.gz": Route(BODY)}) as other, HTTPFiles() as files:
        files.routes = {"/a": redirect("/b"), "/b": redirect(other.url("/app.tar.gz"))}
        assert run("fetch", files.url("/a", "deploy:s3cret"), str(dest)).status == 0
        sent = [r.headers.get("authorization") for r in files.requests + other.requests]
    assert [basic("deploy", "s3cret")] * 2 + [None] == sent


@pytest.mark.parametrize("status", [404, 500, 503])
def test_an_error_status_is_one_line_naming_it(files: HTTPFiles, dest: Path, status: int) -> None:
    files.routes = {"/app.tar.gz": Route(b"oops", status=status)}
    url = files.url("/app.tar.gz")
    reason = {404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}[status]
    assert ((70, "", f"HTTP {status} {reason} from {url}"), []) == (
        failed(run("fetch", url, str(dest))),
        listing(dest.parent),
    )


@pytest.mark.parametrize(
    "route", [Route(hang=True), Route(BODY, stall_after=100)], ids=["silent", "mid-body"]
)
def test_a_stalled_server_times_out(files: HTTPFiles, dest: Path, route: Route) -> None:
    files.routes = {"/app.tar.gz": route}
    url = files.url("/app.tar.gz")
    started = time.monotonic()
    done = run("fetch", url, str(dest), "--timeout", "1")
    elapsed = time.monotonic() - started
    assert ((70, "", f"timed out after 1 s reading {url}"), []) == (
        failed(done),
        listing(dest.parent),
    )
    assert elapsed < 10


def test_nothing_listening_cannot_connect(dest: Path) -> None:
    with socket.socket() as unused:  # bound, not listening: connections are refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        done = run("fetch", f"http://127.0.0.1:{port}/app.tar.gz", str(dest))
    assert (70, "", f"cannot connect to 127.0.0.1:{port}: Connection refused") == failed(done)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["deploy"],
        ["identity"],
        ["fetch", "http://127.0.0.1:1/a"],
        ["identity", "http://127.0.0.1:1/a", "extra"],
        ["identity", "http://127.0.0.1:1/a", "--color"],
        ["identity", "http://127.0.0.1:1/a", "--sha256"],
        ["identity", "http://127.0.0.1:1/a", "--sha256", "abc"],
        ["identity", "http://127.0.0.1:1/a", "--sha256="],
        ["identity", "http://127.0.0.1:1/a", "--timeout", "0"],
        ["identity", "http://127.0.0.1:1/a", "--timeout=soon"],
        ["fetch", "http://127.0.0.1:1/a", "d", "--if-none-match", "tab\there"],
        ["identity", "ftp://127.0.0.1/a"],
        ["identity", "file:///etc/passwd"],
        ["identity", "http:///no-host"],
        ["identity", "http://127.0.0.1:99999/a"],
    ],
)
def test_a_bad_command_line_exits_64_with_one_line(args: list[str]) -> None:
    status, out, _ = failed(call(*args))
    assert (status, out) == (64, "")


def test_a_url_that_is_not_http_is_named_with_its_password_hidden() -> None:
    done = run("identity", "ftp://user:pw@127.0.0.1/a")
    assert failed(done) == (64, "", "not an http(s) URL: ftp://user:***@127.0.0.1/a")


def test_a_bad_value_is_named_in_the_one_line() -> None:
    done = call("identity", "http://127.0.0.1:1/a", "--sha256", "abc")
    assert failed(done) == (64, "", "--sha256 needs 64 hex digits, got 'abc'")


def test_sigterm_mid_download_removes_the_part(files: HTTPFiles, dest: Path) -> None:
    files.routes = {"/app.tar.gz": Route(BODY, stall_after=1000)}
    command = [sys.executable, "-I", "-c", SOURCE, "fetch", files.url("/app.tar.gz"), str(dest)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        try:
            part, deadline = dest.with_name(dest.name + ".part"), time.monotonic() + 10
            while not part.exists():  # it is opened once the headers are in, then the body stalls
                assert time.monotonic() < deadline and child.poll() is None, "no part in 10 s"
                time.sleep(0.01)
            child.terminate()
            status = child.wait(timeout=10)
        finally:
            child.kill()
    assert (status, listing(dest.parent)) == (128 + signal.SIGTERM, [])


# the file itself -------------------------------------------------------------------------------


def test_the_source_parses_as_python_3_8() -> None:
    ast.parse(SOURCE, feature_version=(3, 8))


def test_the_source_imports_the_standard_library_only() -> None:
    tree = ast.parse(SOURCE)
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    outside = sorted(n for n in names if n.split(".")[0] not in sys.stdlib_module_names)
    assert outside == []
