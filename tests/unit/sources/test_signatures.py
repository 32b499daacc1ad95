"""``verify = signed``: the allowed-signers file, and the checks that refuse what it did not sign.

The server checks are bash run here with ``bash -c`` and stand-ins for prelude.sh's ``git_repo``,
``step`` and ``fail``; commits and files are signed with real ssh-keygen, gpg and git
(tests/support/signing.py).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pushdeploy.errors import ConfigError, ExitStatus, Refused
from pushdeploy.remote import protocol
from pushdeploy.sources.signatures import (
    REASON_LIMIT,
    Signers,
    load,
    signature_name,
    verify_commit_shell,
    verify_file_local,
    verify_file_shell,
)
from tests.support.gitrepo import Origin
from tests.support.signing import GPGSigner, SSHSigner, allowed_signers, commit_unsigned

EXIT_UNSIGNED = protocol.EXIT_REFUSED  # 82: the script's status for a refused signature
BASH = shutil.which("bash") or "bash"  # found before a test narrows PATH
MARK = "::pushdeploy::"
REFUSED = "is not signed by a key in allowed-signers"
pytestmark = pytest.mark.skipif(  # under CI a missing tool fails the tests instead
    not (shutil.which("ssh-keygen") and shutil.which("gpg")) and not os.environ.get("CI"),
    reason="needs ssh-keygen (Debian: openssh-client) and gpg (Debian: gnupg)",
)


def blob(key_type: str) -> str:
    """A base64 key of ``key_type`` in SSH wire form (only its type is read)."""
    name = key_type.encode()
    return base64.b64encode(len(name).to_bytes(4, "big") + name + b"\0\0\0\1x").decode()


ED = f"ssh-ed25519 {blob('ssh-ed25519')}"
PGP = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"


@dataclass(frozen=True)
class Keys:
    """Two signers of one kind: ``alice`` is in allowed-signers, ``mallory`` is not."""

    alice: SSHSigner | GPGSigner
    mallory: SSHSigner | GPGSigner

    @property
    def signers(self) -> Signers:
        return Signers.parse(allowed_signers(self.alice))


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    keys = tmp_path_factory.mktemp("ssh-keys")
    return Keys(SSHSigner.make(keys, "alice@example.com"), SSHSigner.make(keys, "mallory@evil"))


@pytest.fixture(scope="module")
def gpg_keys() -> Iterator[Keys]:
    alice = GPGSigner.make("Alice", "alice@example.com")
    with alice, GPGSigner.make("Mallory", "mallory@evil.test") as mallory:
        yield Keys(alice, mallory)


@pytest.fixture(params=["ssh", "gpg"])
def keys(request: pytest.FixtureRequest) -> Keys:
    """Each test that takes ``keys`` runs once with SSH keys, once with GPG keys."""
    found: Keys = request.getfixturevalue(f"{request.param}_keys")
    return found


@dataclass(frozen=True)
class Run:
    """How a check in bash ended: its exit status, its markers (prefix cut off), its leftovers."""

    status: int
    markers: list[str]
    leftovers: list[str]  # what the check left in STATE


def run_shell(lines: list[str], call: str, tmp: Path, repo: Path | None = None, **env: str) -> Run:
    """``lines`` and then ``call`` in bash, with the stand-ins of the deploy script's prelude."""
    state = tmp / "state"
    state.mkdir(exist_ok=True)
    script = "\n".join(
        [
            "set -u -o pipefail",
            protocol.contract(),
            'git_repo() { git --git-dir="$REPO_DIR" "$@" </dev/null; }',
            "mark() { printf '::pushdeploy::%s\\n' \"$*\"; }",
            'step() { mark "step $1"; }',
            'warn() { mark "warn $*"; }',
            'fail() { mark "fail $1 $2"; exit "${3:-1}"; }',
            *lines,
            call,
            "mark done",
        ]
    )
    variables = {"STATE": str(state), "LC_ALL": "C.UTF-8"}
    variables["REPO_DIR"] = str(repo / ".git") if repo else ""
    done = subprocess.run(
        [BASH, "-c", script],
        env={**os.environ, **variables, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    markers = [line.removeprefix(MARK) for line in done.stdout.splitlines()]
    return Run(done.returncode, markers, sorted(p.name for p in state.iterdir()))


def refused(what: str, why: str) -> Run:
    """The run of a check that refused ``what`` because of ``why``, leaving nothing behind."""
    return Run(EXIT_UNSIGNED, ["step verify", f"fail verify {what} {REFUSED} ({why})"], [])


def passed() -> Run:
    """The run of a check that passed, leaving nothing behind."""
    return Run(0, ["step verify", "done"], [])


def no_process_mentions(path: Path) -> bool:
    """No process runs with ``path`` on its command line (a gpg-agent left in a temporary home)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(path).encode() in cmdline.read_bytes():
                return False
        except OSError:
            continue
    return True


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return Origin(tmp_path / "origin")


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "app.tar.gz"
    path.write_bytes(b"release bytes\n" * 100)
    return path


def verify_commit(keys: Keys, sha: str, tmp_path: Path, origin: Origin, **env: str) -> Run:
    lines = verify_commit_shell(keys.signers)
    return run_shell(lines, f"verify_commit {sha}", tmp_path, origin.path, **env)


def verify_file(keys: Keys, artifact: Path, tmp_path: Path) -> Run:
    call = f"verify_file {artifact} {signature_name(str(artifact), keys.signers)}"
    return run_shell(verify_file_shell(keys.signers), call, tmp_path)


def not_allowed(keys: Keys) -> str:
    """What ssh-keygen and gpg say of a signature by a key that is not in allowed-signers."""
    ssh = isinstance(keys.alice, SSHSigner)
    return "No principal matched." if ssh else "gpg: Can't check signature: No public key"


# --- Signers.parse ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"alice@example.com {ED}\n", "ssh"),
        (f"alice@example.com {ED} alice's laptop", "ssh"),
        (f"# deployers\n\nalice@example.com,bob@example.com {ED}\n", "ssh"),
        (f'alice@example.com namespaces="file,git",valid-after="20250101" {ED}', "ssh"),
        (f"*@example.com cert-authority {ED}", "ssh"),
        (f'"alice smith" {ED}', "ssh"),
        (f"a ecdsa-sha2-nistp256 {blob('ecdsa-sha2-nistp256')}", "ssh"),
        (f"a sk-ssh-ed25519@openssh.com {blob('sk-ssh-ed25519@openssh.com')}", "ssh"),
        (f"a ssh-rsa {blob('ssh-rsa')}\r\n", "ssh"),
        (PGP, "gpg"),
        ("Alice's key, exported:\n" + PGP + PGP, "gpg"),
    ],
)
def test_parse_detects_the_kind_of_a_valid_file(text: str, kind: str) -> None:
    assert kind == Signers.parse(text).kind


def test_parse_keeps_the_text_with_plain_line_ends() -> None:
    expected = f"a {ED}\nb {ED}\n"
    assert expected == Signers.parse(f"a {ED}\r\nb {ED}").text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "signers.txt: holds no keys"),
        ("# nobody yet\n\n", "signers.txt: holds no keys"),
        ("alice@example.com\n", "signers.txt:1: expected 'PRINCIPALS [OPTIONS] KEYTYPE KEY"),
        (f"# ok\nalice {ED}\nbob ssh-ed25519\n", "signers.txt:3: expected 'PRINCIPALS"),
        ("alice ssh-ed42 AAAA\n", "signers.txt:1: expected 'PRINCIPALS"),
        (
            f"{ED} alice@laptop\n",
            "signers.txt:1: expected 'PRINCIPALS [OPTIONS] KEYTYPE KEY [COMMENT]'"
            " (KEYTYPE as ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, sk-ssh-ed25519@openssh.com),"
            " got a public key without the principals first",
        ),
        ("alice a b ssh-ed25519 AAAA\n", "signers.txt:1: expected 'PRINCIPALS"),
        ("alice ssh-ed25519 not-base64!\n", "signers.txt:1: the key is not a valid base64"),
        (f"alice ssh-rsa {blob('ssh-ed25519')}\n", "signers.txt:1: the key is not a valid base64"),
        (f"alice no-touch-required {ED}\n", "signers.txt:1: unknown option 'no-touch-required'"),
        (f'"alice {ED}\n', "signers.txt:1: an unterminated quote"),
        (
            "-----BEGIN PGP SIGNATURE-----\nx\n-----END PGP SIGNATURE-----\n",
            "signers.txt: holds no",
        ),
        (PGP.rsplit("-----END", 1)[0], "signers.txt:1: a PGP PUBLIC KEY BLOCK without its END"),
        (PGP + f"alice {ED}\n", "signers.txt:6: an SSH key among PGP blocks"),
        (f"alice {ED}\0\n", "signers.txt: contains a NUL byte"),
    ],
)
def test_parse_refuses_a_bad_file_saying_where(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Signers.parse(text, "signers.txt")
    assert message == raised.value.message[: len(message)]


@pytest.mark.parametrize(
    "block",
    [
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQ\n-----END PGP PRIVATE KEY BLOCK-----\n",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n",
    ],
)
def test_parse_refuses_a_private_key_loudly(block: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Signers.parse(PGP + block)
    expected = "allowed-signers:6: holds a PRIVATE key; it must hold public keys only"
    assert (expected, True) == (raised.value.message, "replace it" in raised.value.hint)


def test_a_real_key_of_each_kind_parses(ssh_keys: Keys, gpg_keys: Keys) -> None:
    expected = ["ssh", "gpg"]
    assert expected == [
        Signers.parse(allowed_signers(keys.alice, keys.mallory)).kind
        for keys in (ssh_keys, gpg_keys)
    ]


def test_load_reads_the_file_and_names_it_in_errors(tmp_path: Path) -> None:
    good, bad = tmp_path / "signers", tmp_path / "bad"
    good.write_text(f"alice {ED}\n")
    bad.write_text("alice\n")
    with pytest.raises(ConfigError) as raised:
        load(bad)
    expected = f"{bad}:1: expected 'PRINCIPALS"
    assert ("ssh", expected) == (load(good).kind, raised.value.message[: len(expected)])


def test_loading_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path / "none")
    expected = f"allowed-signers: cannot read {tmp_path / 'none'} (No such file or directory)"
    assert expected == raised.value.message


@pytest.mark.parametrize(("text", "name"), [(f"a {ED}", "app.tar.gz.sig"), (PGP, "app.tar.gz.asc")])
def test_the_signature_sits_beside_the_file(text: str, name: str) -> None:
    assert name == signature_name("app.tar.gz", Signers.parse(text))


# --- verify_commit on the server ---------------------------------------------------------------


def test_a_commit_signed_by_an_allowed_key_passes(
    keys: Keys, origin: Origin, tmp_path: Path
) -> None:
    sha = keys.alice.commit(origin.path, {"a": "1"})
    assert passed() == verify_commit(keys, sha, tmp_path, origin)


def test_an_unsigned_commit_is_refused(keys: Keys, origin: Origin, tmp_path: Path) -> None:
    sha = commit_unsigned(origin.path, {"a": "1"})
    assert refused(f"commit {sha[:7]}", "no signature") == verify_commit(
        keys, sha, tmp_path, origin
    )


def test_a_commit_signed_by_another_key_is_refused(
    keys: Keys, origin: Origin, tmp_path: Path
) -> None:
    sha = keys.mallory.commit(origin.path, {"a": "1"})
    expected = refused(f"commit {sha[:7]}", not_allowed(keys))
    assert expected == verify_commit(keys, sha, tmp_path, origin)


@pytest.mark.parametrize(("kind", "other"), [("ssh", "gpg"), ("gpg", "ssh")])
def test_a_commit_signed_with_the_other_kind_is_refused_saying_so(
    kind: str, other: str, request: pytest.FixtureRequest, origin: Origin, tmp_path: Path
) -> None:
    """With SSH keys allowed, git never asks GPG, even where the server user's keyring holds the
    signer's key (and with GPG keys allowed, never ssh-keygen)."""
    keys: Keys = request.getfixturevalue(f"{kind}_keys")
    gpg_home = str(request.getfixturevalue("gpg_keys").alice.home)
    signer: Keys = request.getfixturevalue(f"{other}_keys")
    sha = signer.alice.commit(origin.path, {"a": "1"})
    why = f"signed with {other.upper()}; allowed-signers holds {kind.upper()} keys"
    run = verify_commit(keys, sha, tmp_path, origin, GNUPGHOME=gpg_home)
    assert refused(f"commit {sha[:7]}", why) == run


def test_gpg_never_reads_the_users_keyring(gpg_keys: Keys, origin: Origin, tmp_path: Path) -> None:
    """Mallory's key in the server user's own keyring does not make Mallory an allowed signer."""
    assert isinstance(gpg_keys.mallory, GPGSigner)
    sha = gpg_keys.mallory.commit(origin.path, {"a": "1"})
    home = str(gpg_keys.mallory.home)
    expected = refused(f"commit {sha[:7]}", not_allowed(gpg_keys))
    assert expected == verify_commit(gpg_keys, sha, tmp_path, origin, GNUPGHOME=home)


def test_gpg_leaves_no_agent_running(gpg_keys: Keys, origin: Origin, tmp_path: Path) -> None:
    sha = gpg_keys.alice.commit(origin.path, {"a": "1"})
    run = verify_commit(gpg_keys, sha, tmp_path, origin)
    assert (passed(), True) == (run, no_process_mentions(tmp_path / "state"))


def only_tools(tmp_path: Path, *names: str) -> str:
    """A PATH with just ``names`` and what the checks use besides, for a server lacking a tool."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in {*names, "mktemp", "rm", "tr", "head", "sed", "cat"}:
        if found := shutil.which(name):
            (tools / name).symlink_to(found)
    return str(tools)


def test_ssh_commits_need_git_2_34_on_the_server(ssh_keys: Keys, tmp_path: Path) -> None:
    old = tmp_path / "old" / "git"
    old.parent.mkdir()
    old.write_text("#!/bin/sh\necho 'git version 2.30.9'\n")
    old.chmod(0o755)
    path = f"{old.parent}:{os.environ['PATH']}"
    run = run_shell(
        verify_commit_shell(ssh_keys.signers), "verify_commit 0a1b2c3", tmp_path, PATH=path
    )
    why = "verify = signed needs git 2.34+ on the server for SSH signatures (found git version 2.30.9)"
    assert Run(1, ["step verify", f"fail verify {why}"], []) == run


@pytest.mark.parametrize(
    ("kind", "tool", "why", "other"),
    [("ssh", "ssh-keygen", "OpenSSH's client tools", "gpg"), ("gpg", "gpg", "GnuPG", "ssh-keygen")],
)
def test_a_missing_tool_fails_the_step_saying_which(
    kind: str, tool: str, why: str, other: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    keys: Keys = request.getfixturevalue(f"{kind}_keys")
    path = only_tools(tmp_path, "git", other)
    expected = Run(
        1, ["step verify", f"fail verify verify = signed needs {tool} on the server ({why})"], []
    )
    commit = run_shell(
        verify_commit_shell(keys.signers), "verify_commit 0a1b2c3", tmp_path, PATH=path
    )
    file = run_shell(verify_file_shell(keys.signers), "verify_file a a.sig", tmp_path, PATH=path)
    assert (expected, expected) == (commit, file)


# --- verify_file on the server -----------------------------------------------------------------


def test_a_file_signed_by_an_allowed_key_passes(keys: Keys, artifact: Path, tmp_path: Path) -> None:
    keys.alice.sign_file(artifact)
    assert passed() == verify_file(keys, artifact, tmp_path)


def test_a_file_signed_by_another_key_is_refused(
    keys: Keys, artifact: Path, tmp_path: Path
) -> None:
    keys.mallory.sign_file(artifact)
    assert refused("app.tar.gz", not_allowed(keys)) == verify_file(keys, artifact, tmp_path)


def test_a_tampered_file_is_refused(keys: Keys, artifact: Path, tmp_path: Path) -> None:
    keys.alice.sign_file(artifact)
    with artifact.open("ab") as tamper:
        tamper.write(b"one more byte")
    run = verify_file(keys, artifact, tmp_path)
    ssh = isinstance(keys.alice, SSHSigner)
    why = "Signature verification failed: incorrect signature" if ssh else "gpg: BAD signature"
    reason = run.markers[-1].partition(f"app.tar.gz {REFUSED} (")[2]
    assert (EXIT_UNSIGNED, [], why) == (run.status, run.leftovers, reason[: len(why)])


def test_a_file_without_its_signature_is_refused(
    keys: Keys, artifact: Path, tmp_path: Path
) -> None:
    name = signature_name(artifact.name, keys.signers)
    expected = refused("app.tar.gz", f"no signature: {name} is missing")
    assert expected == verify_file(keys, artifact, tmp_path)


def test_the_keys_reach_the_shell_quoted(ssh_keys: Keys, artifact: Path, tmp_path: Path) -> None:
    """A comment like ``$(touch ...)`` in allowed-signers is text, never run."""
    assert isinstance(ssh_keys.alice, SSHSigner)
    trap = tmp_path / "pwned"
    text = f"{ssh_keys.alice.allowed_line} $(touch {trap}) `touch {trap}` ';touch {trap}'\n"
    ssh_keys.alice.sign_file(artifact)
    call = f"verify_file {artifact} {artifact}.sig"
    run = run_shell(verify_file_shell(Signers.parse(text)), call, tmp_path)
    assert (passed(), False) == (run, trap.exists())


def test_a_reason_from_a_tool_is_one_clean_short_line(ssh_keys: Keys, tmp_path: Path) -> None:
    """Tool output is untrusted: the last non-blank line, no control characters, cut to size."""
    noisy = r"printf 'first\nnoise \033[31mred\a%0300d\n\n' 0"
    run = run_shell(
        verify_file_shell(ssh_keys.signers), f'signed_refuse app "$({noisy})"', tmp_path
    )
    why = ("noise [31mred" + "0" * 300)[:REASON_LIMIT]
    assert Run(EXIT_UNSIGNED, [f"fail verify app {REFUSED} ({why})"], []) == run


# --- verify_file_local -------------------------------------------------------------------------


def test_a_local_file_signed_by_an_allowed_key_passes(keys: Keys, artifact: Path) -> None:
    signature = keys.alice.sign_file(artifact)
    verify_file_local(artifact, signature, keys.signers)  # raises when refused


@pytest.mark.parametrize("change", ["other key", "tampered"])
def test_a_local_file_not_signed_by_an_allowed_key_is_refused(
    keys: Keys, artifact: Path, change: str
) -> None:
    signature = (keys.mallory if change == "other key" else keys.alice).sign_file(artifact)
    if change == "tampered":
        artifact.write_bytes(b"something else")
    with pytest.raises(Refused) as raised:
        verify_file_local(artifact, signature, keys.signers)
    start = f"{artifact} {REFUSED} ("
    hint = raised.value.hint.startswith("sign it with a key in allowed-signers: ")
    assert (ExitStatus.REFUSED, start, True) == (
        raised.value.status,
        raised.value.message[: len(start)],
        hint,
    )


def test_a_local_file_without_a_signature_is_refused_with_how_to_sign(
    ssh_keys: Keys, artifact: Path
) -> None:
    signature = signature_name(str(artifact), ssh_keys.signers)
    with pytest.raises(Refused) as raised:
        verify_file_local(artifact, signature, ssh_keys.signers)
    expected = (
        f"{artifact} is not signed: {signature} is missing",
        f"sign it with a key in allowed-signers: ssh-keygen -Y sign -n file -f KEY {artifact}",
    )
    assert expected == (raised.value.message, raised.value.hint)


def test_local_checks_leave_no_temporary_files(
    keys: Keys, artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temporary))
    verify_file_local(artifact, keys.alice.sign_file(artifact), keys.signers)
    with pytest.raises(Refused):
        verify_file_local(artifact, keys.mallory.sign_file(artifact), keys.signers)
    expected: tuple[list[Path], bool] = ([], True)
    assert expected == (list(temporary.iterdir()), no_process_mentions(temporary))


def test_a_local_check_without_its_tool_is_refused(
    keys: Keys, artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signature, signers = keys.alice.sign_file(artifact), keys.signers
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(Refused) as raised:
        verify_file_local(artifact, signature, signers)
    tool = "ssh-keygen" if signers.kind == "ssh" else "gpg"
    assert f"verify = signed needs {tool} on this machine to check the artifact" == str(
        raised.value
    )


def test_a_corrupt_gpg_block_is_a_config_error_locally(gpg_keys: Keys, artifact: Path) -> None:
    signature = gpg_keys.alice.sign_file(artifact)
    with pytest.raises(ConfigError) as raised:
        verify_file_local(artifact, signature, Signers.parse(PGP))
    start = "allowed-signers: gpg could not import its keys ("
    assert start == raised.value.message[: len(start)]
