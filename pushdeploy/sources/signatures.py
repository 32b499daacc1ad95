"""``verify = signed``: the keys of ``allowed-signers``, and the checks that refuse anything else.

``Signers.parse`` reads the file's text: OpenSSH ``allowed_signers`` lines (git's
``gpg.ssh.allowedSignersFile``; files signed with ``ssh-keygen -Y sign -n file``) or ASCII-armored
PGP public key blocks (files signed with ``gpg --detach-sign --armor``); a private key in it is
refused loudly, as the text goes to every server. ``verify_commit_shell``/``verify_file_shell``
are bash for the deploy script (prelude.sh's ``git_repo``, ``fail``, ``step``, ``$STATE``;
protocol.py's ``$EXIT_REFUSED``): the keys go into a private directory under ``$STATE``, removed
after; GPG runs with that directory as its home (never the user's keyring), trusting exactly those
keys and starting no agent. ``verify_file_local`` checks an artifact here, before its upload.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
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
    if env.verify != "signed" or not env.allowed_signers:
        return None
    return load(Path(env.source).parent / Path(env.allowed_signers).expanduser())


def signature_name(path: str, signers: Signers) -> str:
    """Where ``path``'s signature is expected: ``.sig`` beside it for SSH, ``.asc`` for GPG."""
    return path + (".sig" if signers.kind == "ssh" else ".asc")


# --- On the server: bash for the deploy script ---------------------------------------------------

_COMMON = r"""# signed_clean TEXT: untrusted tool output fit for a marker: no controls, SIGNED_LIMIT chars at most.
signed_clean() { local text; text=$(printf '%s' "$1" | LC_ALL=C tr -d '\000-\037\177'); printf '%s' "${text:0:SIGNED_LIMIT}"; }
# signed_reason OUTPUT: a tool's verdict, its last non-blank line.
signed_reason() {
  local line last=""
  while IFS= read -r line; do [[ $line != *[![:space:]]* ]] || last=$line; done <<<"$1"
  signed_clean "$last"
}
signed_needs() { command -v "$1" >/dev/null 2>&1 || fail verify "verify = signed needs $1 on the server ($2)"; }
# signed_check WHAT SHA CHECK ARGS...: the verify step. CHECK ARGS runs with the allowed signers in
# a private directory under STATE (SIGNED_TMP, removed after); WHAT is refused when it fails.
signed_check() {
  local out status=0
  step verify
  signed_ready "${2:+commit}"
  SIGNED_TMP=$(mktemp -d -- "$STATE/verify.XXXXXX") || fail verify "cannot create a temporary directory in $STATE"
  if ! (umask 077 && printf '%s\n' "${ALLOWED_SIGNERS[@]}" >"$SIGNED_TMP/allowed_signers" && signed_home) >"$SIGNED_TMP/why" 2>&1; then
    out=$(signed_reason "$(head -c 10000 -- "$SIGNED_TMP/why")") && rm -rf -- "$SIGNED_TMP"
    fail verify "cannot set up the keys of allowed-signers in $STATE ($out)"
  fi
  out=$("${@:3}" 2>&1) || status=$?
  rm -rf -- "$SIGNED_TMP"
  [ "$status" = 0 ] || signed_refuse "$1" "$out" "$2"
}
# signed_refuse WHAT OUTPUT [SHA]: refuse WHAT, with the tool's reason or what the commit carries.
signed_refuse() {
  local why
  why=$(signed_reason "$2")
  if [ -z "$why" ] && [ -n "${3:-}" ]; then
    case $(git_repo cat-file commit "$3" 2>/dev/null | sed -n '/^$/q; s/^gpgsig[-a-z0-9]* -----BEGIN \([A-Z]*\) .*/\1/p') in
      "") why="no signature" ;;
      SSH) [ "$SIGNED_KIND" = SSH ] || why="signed with SSH; allowed-signers holds GPG keys" ;;
      PGP) [ "$SIGNED_KIND" = GPG ] || why="signed with GPG; allowed-signers holds SSH keys" ;;
    esac
  fi
  fail verify "$1 is not signed by a key in allowed-signers (${why:-the signature was not accepted})" "$EXIT_REFUSED"
}
"""
# What each kind needs on the server (signed_ready), its keys' home (signed_home), and its checks.
_KIND = {
    "ssh": r"""signed_ready() {
  local version major=0 minor=0
  signed_needs ssh-keygen "OpenSSH's client tools"
  [ "$1" = commit ] || return 0
  version=$(git --version 2>/dev/null)
  if [[ $version =~ ([0-9]+)\.([0-9]+) ]]; then major=$((10#${BASH_REMATCH[1]})) minor=$((10#${BASH_REMATCH[2]})); fi
  (( major > 2 || (major == 2 && minor >= 34) )) ||
    fail verify "verify = signed needs git 2.34+ on the server for SSH signatures (found $(signed_clean "${version:-no git}"))"
}
signed_home() { :; }
""",
    "gpg": r"""signed_ready() { signed_needs gpg GnuPG; }
# signed_home: SIGNED_TMP is GnuPG's home, holding only the allowed keys, trusted; no agent starts.
signed_home() {
  printf '%s\n' 'trust-model always' no-auto-key-retrieve no-autostart >"$SIGNED_TMP/gpg.conf" &&
    GNUPGHOME=$SIGNED_TMP gpg --batch --quiet --import <"$SIGNED_TMP/allowed_signers"
}
""",
}
# Git is pinned to the one kind: no fallback to the server user's keyring, nor to the other kind.
_COMMIT = {
    "ssh": r"""signed_commit() {
  git_repo -c gpg.format=ssh -c gpg.ssh.program=ssh-keygen -c "gpg.ssh.allowedSignersFile=$SIGNED_TMP/allowed_signers" \
    -c gpg.openpgp.program=false -c gpg.x509.program=false verify-commit "$1"
}
""",
    "gpg": r"""signed_commit() {
  GNUPGHOME=$SIGNED_TMP git_repo -c gpg.openpgp.program=gpg -c gpg.minTrustLevel=undefined \
    -c gpg.ssh.program=false -c gpg.ssh.allowedSignersFile=/dev/null -c gpg.x509.program=false verify-commit "$1"
}
""",
}
_FILE = {
    "ssh": r"""signed_file() {
  local principal
  [ -f "$2" ] || { printf 'no signature: %s is missing\n' "${2##*/}"; return 1; }
  principal=$(ssh-keygen -Y find-principals -f "$SIGNED_TMP/allowed_signers" -s "$2") &&
    ssh-keygen -Y verify -f "$SIGNED_TMP/allowed_signers" -I "${principal%%$'\n'*}" -n file -s "$2" <"$1" >/dev/null
}
""",
    "gpg": r"""signed_file() {
  [ -f "$2" ] || { printf 'no signature: %s is missing\n' "${2##*/}"; return 1; }
  GNUPGHOME=$SIGNED_TMP gpg --batch --status-file "$SIGNED_TMP/status" --verify -- "$2" "$1" </dev/null &&
    [[ $'\n'$(<"$SIGNED_TMP/status") == *$'\n[GNUPG:] GOODSIG '* ]]
}
""",
}


def _shell(signers: Signers, check: str, entry: str) -> list[str]:
    keys = " ".join(shlex.quote(line) for line in signers.text.splitlines())
    head = (
        f"ALLOWED_SIGNERS=({keys}) SIGNED_KIND={signers.kind.upper()} SIGNED_LIMIT={REASON_LIMIT}"
    )
    return [head, *(_COMMON + _KIND[signers.kind] + check).splitlines(), entry]


def verify_commit_shell(signers: Signers) -> list[str]:
    """Bash defining ``verify_commit SHA``: refuse (``$EXIT_REFUSED``) a commit not signed by
    one of ``signers``; a server without the tools it needs fails the step saying which."""
    entry = 'verify_commit() { signed_check "commit ${1:0:7}" "$1" signed_commit "$1"; }'
    return _shell(signers, _COMMIT[signers.kind], entry)


def verify_file_shell(signers: Signers) -> list[str]:
    """Bash defining ``verify_file FILE SIGFILE``: refuse (``$EXIT_REFUSED``) a file on the
    server whose detached signature SIGFILE is missing or not from one of ``signers``."""
    entry = 'verify_file() { signed_check "$(signed_clean "${1##*/}")" "" signed_file "$1" "$2"; }'
    return _shell(signers, _FILE[signers.kind], entry)


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
