"""``verify = signed``: the keys of ``allowed-signers``, and the checks that refuse anything else.

``Signers.parse`` reads the file's text: OpenSSH ``allowed_signers`` lines (git's
``gpg.ssh.allowedSignersFile``; files signed with ``ssh-keygen -Y sign -n file``) or ASCII-armored
PGP public key blocks (files signed with ``gpg --detach-sign --armor``); a private key in it is
refused loudly, as the text goes to every server. ``verify_commit_shell``/``verify_file_shell``
are bash for the deploy script: ``header`` (the keys, their kind, quoted) and signatures.sh, whose
``verify_commit SHA`` and ``verify_file FILE SIGFILE`` put the keys into a private directory under
``$STATE``, removed after; GPG runs with that directory as its home (never the user's keyring),
trusting exactly those keys and starting no agent. ``verify_file_local`` checks an artifact here,
before its upload.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pushdeploy.errors import ConfigError, Refused

if TYPE_CHECKING:
    from pushdeploy.config.environment import Environment

KEY_TYPE = re.compile(
    r"(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)"
    r"|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)"
)
OPTIONS = ("cert-authority", "namespaces", "valid-after", "valid-before")  # ssh-keygen(1)
PGP_PUBLIC = "PGP PUBLIC KEY BLOCK"
SIGN_HINTS = {
    "ssh": "sign it with a key in allowed-signers: ssh-keygen -Y sign -n file -f KEY {file}",
    "gpg": "sign it with a key in allowed-signers: gpg --detach-sign --armor {file}",
}
REASON_LIMIT = 200  # characters of a tool's reason in a message
TIMEOUT = 60  # seconds for one local ssh-keygen or gpg
LIBRARY = files("pushdeploy.sources").joinpath("signatures.sh").read_text(encoding="utf-8")
q = shlex.quote


@dataclass(frozen=True)
class Signers:
    """The keys of ``allowed-signers``: ``kind`` "ssh" or "gpg", and the file's text."""

    kind: Literal["ssh", "gpg"]
    text: str

    @classmethod
    def parse(cls, text: str, source: str = "allowed-signers") -> Signers:
        """Detect the kind and validate; ``ConfigError`` says what is wrong, where."""
        lines = [line.rstrip("\r") for line in text.split("\n")]
        if "\0" in text:
            raise ConfigError(f"{source}: contains a NUL byte; is it a text file?")
        for number, line in enumerate(lines, 1):
            if re.search(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY", line):
                raise ConfigError(
                    f"{source}:{number}: holds a PRIVATE key; it must hold public keys only",
                    "remove the private key from the file (and replace it: it has been exposed)",
                )
        normal = "\n".join(lines).strip("\n") + "\n"
        if any(line.strip().startswith("-----BEGIN PGP") for line in lines):
            _check_pgp(lines, source)
            return cls("gpg", normal)
        keys = [_check_ssh_line(line, n, source) for n, line in enumerate(lines, 1)]
        if not any(keys):
            raise ConfigError(
                f"{source}: holds no keys (expected OpenSSH allowed_signers lines,"
                " 'PRINCIPALS [OPTIONS] KEYTYPE KEY', or PGP public key blocks)"
            )
        return cls("ssh", normal)


def _check_pgp(lines: list[str], source: str) -> None:
    stripped = [line.strip() for line in lines]
    begins = [n for n, line in enumerate(stripped, 1) if line == f"-----BEGIN {PGP_PUBLIC}-----"]
    if not begins:
        raise ConfigError(f"{source}: holds no {PGP_PUBLIC} (export one: gpg --armor --export ID)")
    if stripped.count(f"-----END {PGP_PUBLIC}-----") < len(begins):
        raise ConfigError(f"{source}:{begins[-1]}: a {PGP_PUBLIC} without its END line")
    mixed = [n for n, line in enumerate(lines, 1) if _has_key_type(_fields(line))]
    if mixed:
        raise ConfigError(f"{source}:{mixed[0]}: an SSH key among PGP blocks; use one kind")


def _fields(line: str) -> list[str]:
    return re.findall(r'(?:"[^"]*"|[^\s"])+', line)


def _has_key_type(fields: list[str]) -> list[int]:
    """Where the key type is: after the principals, or after the principals and options."""
    return [i for i in (1, 2) if i < len(fields) and KEY_TYPE.fullmatch(fields[i])]


def _check_ssh_line(line: str, number: int, source: str) -> bool:
    """Validate one allowed_signers line; False for a blank or comment line."""
    where = f"{source}:{number}"
    text = line.strip()
    if not text or text.startswith("#"):
        return False
    if text.count('"') % 2:
        raise ConfigError(f"{where}: an unterminated quote")
    fields = _fields(text)
    typed = _has_key_type(fields)
    if not typed or typed[0] + 1 >= len(fields):
        pasted = KEY_TYPE.fullmatch(fields[0])  # a line of a .pub file: no principals
        raise ConfigError(
            f"{where}: expected 'PRINCIPALS [OPTIONS] KEYTYPE KEY [COMMENT]' (KEYTYPE as"
            " ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, sk-ssh-ed25519@openssh.com), got "
            + ("a public key without the principals first" if pasted else repr(text[:60])),
            "one line per key: who may sign (e.g. alice@example.com), then the key",
        )
    at = typed[0]
    if at == 2:
        for option in re.findall(r'(?:"[^"]*"|[^,"])+', fields[1]):
            name = option.partition("=")[0].lower()
            if name not in OPTIONS:
                raise ConfigError(f"{where}: unknown option {name!r} (known: {', '.join(OPTIONS)})")
    if not _key_matches(fields[at], fields[at + 1]):
        raise ConfigError(f"{where}: the key is not a valid base64 {fields[at]} public key")
    return True


def _key_matches(key_type: str, data: str) -> bool:
    """The key's wire form starts with its type as an SSH string (RFC 4253 6.6)."""
    try:
        blob = base64.b64decode(data, validate=True)
    except ValueError:
        return False
    size = int.from_bytes(blob[:4], "big")
    return len(blob) > 4 + size and blob[4 : 4 + size] == key_type.encode()


def load(path: str | Path) -> Signers:
    """Read and parse the allowed-signers file at ``path`` (the caller resolves it)."""
    try:
        return Signers.parse(Path(path).read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as error:
        why = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"allowed-signers: cannot read {path} ({why})") from None


def of(env: Environment) -> Signers | None:
    """With ``verify = signed``, the keys of ``allowed-signers`` (relative to deploy.conf),
    read and checked before any connection; else None."""
    if env.source.verify != "signed" or not env.source.allowed_signers:
        return None
    return load(Path(env.config_file).parent / Path(env.source.allowed_signers).expanduser())


def signature_name(path: str, signers: Signers) -> str:
    """Where ``path``'s signature is expected: ``.sig`` beside it for SSH, ``.asc`` for GPG."""
    return path + (".sig" if signers.kind == "ssh" else ".asc")


# --- On the server: bash for the deploy script ---------------------------------------------------


def header(signers: Signers) -> str:
    """The variables signatures.sh reads: the keys' lines, their kind, and REASON_LIMIT."""
    keys = " ".join(q(line) for line in signers.text.splitlines())
    kind = q(signers.kind.upper())
    return f"ALLOWED_SIGNERS=({keys}) SIGNED_KIND={kind} SIGNED_LIMIT={REASON_LIMIT}"


def verify_commit_shell(signers: Signers) -> list[str]:
    """Bash defining ``verify_commit SHA``: refuse (``$EXIT_REFUSED``) a commit not signed by
    one of ``signers``; a server without the tools it needs fails the step saying which."""
    return [header(signers), *LIBRARY.splitlines()]


def verify_file_shell(signers: Signers) -> list[str]:
    """Bash defining ``verify_file FILE SIGFILE``: refuse (``$EXIT_REFUSED``) a file on the
    server whose detached signature SIGFILE is missing or not from one of ``signers``."""
    return [header(signers), *LIBRARY.splitlines()]


# --- On this machine -----------------------------------------------------------------------------


def _run(argv: list[str], tool: str, stdin: Path | None = None) -> tuple[bool, str, str]:
    """Run a tool: (exited 0, stdout, stderr). A missing or hung tool refuses the deploy."""
    try:
        with open(stdin or os.devnull, "rb") as data:
            done = subprocess.run(argv, stdin=data, capture_output=True, timeout=TIMEOUT)
    except FileNotFoundError:
        raise Refused(
            f"verify = signed needs {tool} on this machine to check the artifact",
            f"install {'OpenSSH (ssh-keygen)' if tool == 'ssh-keygen' else 'GnuPG (gpg)'}",
        ) from None
    except subprocess.TimeoutExpired:
        raise Refused(f"{tool} did not finish checking a signature in {TIMEOUT} s") from None
    out, err = (data.decode("utf-8", "replace") for data in (done.stdout, done.stderr))
    return done.returncode == 0, out, err


def reason(output: str) -> str:
    """A tool's verdict as one short line: its last non-blank line, without control characters."""
    lines = [line for line in output.splitlines() if line.strip()]
    last = "".join(c for c in (lines[-1] if lines else "") if c.isprintable())
    return last[:REASON_LIMIT]


def verify_file_local(path: str | Path, signature: str | Path, signers: Signers) -> None:
    """Refuse (``Refused``, exit 8) the local artifact ``path`` unless ``signature`` (a detached
    signature: ``signature_name``) is from one of ``signers``. Temporary files are removed."""
    path, signature = Path(path), Path(signature)
    hint = SIGN_HINTS[signers.kind].format(file=shlex.quote(str(path)))
    if not signature.is_file():
        raise Refused(f"{path} is not signed: {signature} is missing", hint)
    with tempfile.TemporaryDirectory(prefix="pushdeploy-verify-") as tmp:
        check = _ssh_check if signers.kind == "ssh" else _gpg_check
        ok, output = check(path, signature, signers, Path(tmp))
    if not ok:
        why = reason(output) or "the signature was not accepted"
        raise Refused(f"{path} is not signed by a key in allowed-signers ({why})", hint)


def _ssh_check(path: Path, signature: Path, signers: Signers, tmp: Path) -> tuple[bool, str]:
    allowed = tmp / "allowed_signers"
    allowed.write_text(signers.text, encoding="utf-8")
    allowed.chmod(0o600)
    found = ["ssh-keygen", "-Y", "find-principals", "-f", str(allowed), "-s", str(signature)]
    ok, principals, why = _run(found, "ssh-keygen")
    if not ok or not principals.strip():
        return False, why
    principal = principals.splitlines()[0]
    argv = ["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", principal, "-n", "file"]
    ok, out, err = _run([*argv, "-s", str(signature)], "ssh-keygen", path)
    return ok, err or out  # its stderr says why; stdout only "Could not verify signature."


def _gpg_check(path: Path, signature: Path, signers: Signers, tmp: Path) -> tuple[bool, str]:
    (tmp / "keys.asc").write_text(signers.text, encoding="utf-8")
    gpg = ["gpg", "--homedir", str(tmp), "--batch", "--no-tty", "--no-autostart"]
    ok, _, why = _run([*gpg, "--quiet", "--import", str(tmp / "keys.asc")], "gpg")
    if not ok:
        raise ConfigError(f"allowed-signers: gpg could not import its keys ({reason(why)})")
    gpg += ["--trust-model", "always", "--no-auto-key-retrieve", "--status-fd", "1"]
    ok, status, why = _run([*gpg, "--verify", "--", str(signature), str(path)], "gpg")
    good = any(line.startswith("[GNUPG:] GOODSIG ") for line in status.splitlines())
    return ok and good, why
