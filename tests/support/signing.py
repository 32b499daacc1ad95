"""Signing keys for tests: SSH and GPG signers that sign files and git commits with real tools.

* ``SSHSigner.make(directory, principal)``: an ed25519 key (no passphrase) made by ``ssh-keygen``;
  ``allowed_line`` is its line of an ``allowed_signers`` file.
* ``GPGSigner.make(name, email)``: a key in a GnuPG home of its own (never the user's keyring),
  made with ``--quick-gen-key`` and no passphrase; ``public_block`` is its ASCII-armored export.
  The home lives in a short temporary directory (gpg-agent's socket path has a length limit);
  ``close()`` stops its agent and removes it. Use it as a context manager.
* Both ``sign_file(path)`` (writes ``path.sig`` / ``path.asc``, replacing an old one) and
  ``commit(repo, files)`` (a signed commit in a work tree, e.g. ``gitrepo.Origin.path``).
* ``commit_unsigned(repo, files)`` and ``allowed_signers(*signers)`` complete the set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

TIMEOUT = 60  # seconds for any one tool


def _run(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _write(repo: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    _run(["git", "add", "-A"], cwd=repo)


def _commit(repo: Path, files: dict[str, str], options: list[str], env: dict[str, str]) -> str:
    _write(repo, files)
    _run(["git", *options, "commit", "-q", "-m", "change"], cwd=repo, env=env)
    return _run(["git", "rev-parse", "HEAD"], cwd=repo).strip()


def commit_unsigned(repo: Path, files: dict[str, str]) -> str:
    """Commit ``files`` (name -> text) in the work tree ``repo`` without a signature; its SHA."""
    return _commit(repo, files, ["-c", "commit.gpgSign=false"], {})


@dataclass(frozen=True)
class SSHSigner:
    """An SSH signing key: ``key`` (private; ``key.pub`` beside it) for ``principal``."""

    key: Path
    principal: str

    @classmethod
    def make(cls, directory: Path, principal: str) -> SSHSigner:
        directory.mkdir(parents=True, exist_ok=True)
        key = directory / principal.replace("@", "_at_")
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", principal, "-f", str(key)])
        return cls(key, principal)

    @property
    def allowed_line(self) -> str:
        """``principal keytype base64``: this key's line of an allowed_signers file."""
        key_type, data = self.key.with_name(self.key.name + ".pub").read_text().split()[:2]
        return f"{self.principal} {key_type} {data}"

    def sign_file(self, path: Path) -> Path:
        signature = path.with_name(path.name + ".sig")
        signature.unlink(missing_ok=True)  # ssh-keygen would ask before replacing it
        _run(["ssh-keygen", "-q", "-Y", "sign", "-n", "file", "-f", str(self.key), str(path)])
        return signature

    def commit(self, repo: Path, files: dict[str, str]) -> str:
        """Commit ``files`` in the work tree ``repo``, signed with this key; its SHA."""
        options = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={self.key}"]
        return _commit(repo, files, [*options, "-c", "commit.gpgSign=true"], {})


class GPGSigner:
    """A GPG signing key in a GnuPG home of its own; see the module docstring for its lifecycle."""

    def __init__(self, home: Path, email: str, fingerprint: str) -> None:
        self.home = home
        self.email = email
        self.fingerprint = fingerprint

    @classmethod
    def make(cls, name: str, email: str, algorithm: str = "ed25519") -> GPGSigner:
        home = Path(tempfile.mkdtemp(prefix="pdgpg-"))  # 0700, and a short path for the agent
        signer = cls(home, email, "")
        try:
            uid = f"{name} <{email}>"
            signer.gpg("--passphrase", "", "--quick-gen-key", uid, algorithm, "default", "never")
            listing = signer.gpg("--with-colons", "--list-secret-keys", email)
        except BaseException:
            signer.close()
            raise
        signer.fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )
        return signer

    def gpg(self, *args: str) -> str:
        batch = ["--batch", "--pinentry-mode", "loopback"]
        return _run(["gpg", "--homedir", str(self.home), *batch, *args])

    @property
    def public_block(self) -> str:
        return self.gpg("--armor", "--export", self.fingerprint)

    def sign_file(self, path: Path) -> Path:
        signature = path.with_name(path.name + ".asc")
        signature.unlink(missing_ok=True)
        self.gpg("--local-user", self.fingerprint, "--detach-sign", "--armor", str(path))
        return signature

    def commit(self, repo: Path, files: dict[str, str]) -> str:
        """Commit ``files`` in the work tree ``repo``, signed with this key; its SHA."""
        options = ["-c", "gpg.format=openpgp", "-c", f"user.signingkey={self.fingerprint}"]
        env = {"GNUPGHOME": str(self.home)}
        return _commit(repo, files, [*options, "-c", "commit.gpgSign=true"], env)

    def close(self) -> None:
        """Stop this home's gpg-agent and remove the home."""
        subprocess.run(
            ["gpgconf", "--homedir", str(self.home), "--kill", "all"],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> GPGSigner:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def allowed_signers(*signers: SSHSigner | GPGSigner) -> str:
    """The text of an allowed-signers file holding ``signers`` (all of one kind)."""
    return "".join(
        f"{s.allowed_line}\n" if isinstance(s, SSHSigner) else s.public_block for s in signers
    )
