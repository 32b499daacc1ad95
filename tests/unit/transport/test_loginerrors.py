"""What a failed login's transport knew sharpens Paramiko's exception (loginerrors.sharpened)."""

from __future__ import annotations

from types import SimpleNamespace

from pushdeploy.transport import loginerrors
from pushdeploy.transport.library import paramiko


def test_a_disconnect_at_max_auth_tries_is_too_many_keys_with_their_count() -> None:
    transport = SimpleNamespace(disconnected="Too many authentication failures", keys_offered=6)
    sharper = loginerrors.sharpened(paramiko.SSHException("No existing session"), transport)
    assert isinstance(sharper, loginerrors.TooManyKeys)
    assert str(sharper) == "the server closed the login after 6 keys"


def test_no_common_cipher_names_both_sides_lists() -> None:
    transport = SimpleNamespace(
        offered={"client_encrypt_algo_list": ["chacha20-poly1305@openssh.com"]},
        preferred_ciphers=("aes128-ctr", "aes256-ctr"),
    )
    exc = paramiko.IncompatiblePeer("Incompatible ssh server (no acceptable ciphers)")
    expected = (
        "no cipher in common with the server: it offers chacha20-poly1305@openssh.com;"
        " Paramiko offers aes128-ctr, aes256-ctr"
    )
    assert expected == str(loginerrors.sharpened(exc, transport))


def test_other_failures_are_left_as_they_are() -> None:
    transport = SimpleNamespace(disconnected="", offered={})
    assert loginerrors.sharpened(paramiko.AuthenticationException("x"), transport) is None
    assert loginerrors.sharpened(EOFError(), None) is None
