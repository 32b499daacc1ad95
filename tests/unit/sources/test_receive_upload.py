"""The upload's receiving command (upload.sh's ``receive_upload``), run as a server runs it.

The command is handed to the login shell (``sh -c COMMAND`` here, HOME a temporary directory),
with the file on its input. What the client reads is its exit status and the last line of its
stderr (upload.py's Sending), and what it leaves is the file under its digest, or nothing.
"""

from __future__ import annotations

import hashlib
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from pushdeploy.sources.upload import LIBRARY, Payload

DATA = b"release tarball bytes\n" * 1000
DIGEST = hashlib.sha256(DATA).hexdigest()
ROOT = "~/apps/it's here"  # the deploy root as deploy.conf may say it: under HOME, with a quote


@dataclass(frozen=True)
class Received:
    status: int
    said: str  # the last line of stderr, as the client reports it
    files: list[str]  # what is left in the uploads directory


def receive(home: Path, data: bytes, *, size: int = len(DATA), digest: str = DIGEST) -> Received:
    command = Payload(Path("unused"), size, digest).command(ROOT)
    done = subprocess.run(
        ["sh", "-c", command],
        input=data,
        capture_output=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        cwd=home,
        timeout=30,
        check=False,
    )
    uploads = home / "apps" / "it's here" / ".pushdeploy" / "uploads"
    files = sorted(path.name for path in uploads.iterdir()) if uploads.is_dir() else []
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    return Received(done.returncode, lines[-1] if lines else "", files)


def test_the_command_is_bash_given_upload_sh_the_root_and_one_call() -> None:
    command = Payload(Path("unused"), 5, DIGEST).command(ROOT)
    call = f'P="$HOME"/{shlex.quote(ROOT[2:])}\nreceive_upload "$P/.pushdeploy/uploads" 5 {DIGEST}'
    assert ["exec", "bash", "-c", f"{LIBRARY.rstrip()}\n{call}"] == shlex.split(command)


def test_a_whole_upload_is_kept_under_its_digest_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    received = receive(tmp_path, DATA)
    kept = tmp_path / "apps" / "it's here" / ".pushdeploy" / "uploads" / DIGEST
    expected = (Received(0, "", [DIGEST]), DATA, 0o600)
    assert expected == (received, kept.read_bytes(), kept.stat().st_mode & 0o777)


def test_a_file_already_there_is_kept_and_the_input_left_unread(tmp_path: Path) -> None:
    receive(tmp_path, DATA)
    assert Received(0, "", [DIGEST]) == receive(tmp_path, b"")


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (DATA[:1000], f"the upload ended after 1000 of {len(DATA)} bytes"),
        (b"", f"the upload ended after 0 of {len(DATA)} bytes"),
        (
            DATA[:-1] + b"!",
            "the upload arrived damaged"
            f" (sha256 {hashlib.sha256(DATA[:-1] + b'!').hexdigest()}, not {DIGEST})",
        ),
    ],
    ids=["short", "empty", "damaged"],
)
def test_a_short_or_damaged_upload_fails_saying_why_and_leaves_nothing(
    tmp_path: Path, data: bytes, said: str
) -> None:
    assert Received(1, said, []) == receive(tmp_path, data)


def test_input_beyond_the_size_is_left_unread(tmp_path: Path) -> None:
    assert Received(0, "", [DIGEST]) == receive(tmp_path, DATA + b"more")


def test_an_uploads_directory_that_cannot_be_made_fails_the_upload(tmp_path: Path) -> None:
    state = tmp_path / "apps" / "it's here" / ".pushdeploy"
    state.mkdir(parents=True)
    (state / "uploads").write_text("a file in the way\n")
    received = receive(tmp_path, DATA)
    expected = (1, "mkdir: cannot create directory", [])
    assert expected == (received.status, received.said[:30], received.files)
