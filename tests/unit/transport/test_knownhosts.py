"""known_hosts lines read as OpenSSH reads them: patterns, hashed names, markers, bad lines."""

from __future__ import annotations

import base64

import pytest

from pushdeploy.transport import knownhosts

KEY = (
    "ssh-ed25519 " + base64.b64encode(b"\0\0\0\x0bssh-ed25519" + b"\0\0\0\x20" + b"k" * 32).decode()
)


@pytest.mark.parametrize(
    ("patterns", "name", "expected"),
    [
        ("web.example", "WEB.example", True),
        ("*.example,!db.example", "web.example", True),
        ("*.example,!db.example", "db.example", False),
        ("[127.0.0.1]:*", "[127.0.0.1]:2222", True),
        ("[127.0.0.1]:2222", "[127.0.0.1]:2223", False),
        ("web?", "web1", True),
        ("*", "anything", True),
    ],
)
def test_host_patterns_match_as_in_openssh(patterns: str, name: str, expected: bool) -> None:
    assert expected == knownhosts.match_patterns(patterns, name)


def test_a_hashed_name_matches_only_its_host() -> None:
    hashed = knownhosts.hashed_name("[127.0.0.1]:2222", b"s" * 20)
    assert knownhosts.match_patterns(hashed, "[127.0.0.1]:2222")
    assert not knownhosts.match_patterns(hashed, "[127.0.0.1]:2223")


def test_markers_sort_keys_and_bad_lines_are_named_not_fatal() -> None:
    text = (
        f"# a comment\n\nweb {KEY}\n@revoked * {KEY}\n@cert-authority *.example {KEY}\n"
        f"@future * {KEY}\nonlytwo fields\nweb ssh-ed25519 not-base64!\n"
    )
    parsed = knownhosts.parse(text, "kh")
    assert parsed.problems == [
        "kh:6: unknown marker '@future', line skipped",
        "kh:7: not 'hosts key-type key', line skipped",
        "kh:8: the key is not base64, line skipped",
    ]
    found = knownhosts.known([parsed], ["web"])
    assert (
        [e.where for e in found.keys],
        list(found.revoked.values()),
        found.authorities,
    ) == (["kh:3"], ["kh:4"], [])
    assert [e.where for e in knownhosts.known([parsed], ["a.example"]).authorities] == ["kh:5"]


def test_a_blob_that_is_not_a_certificate_is_refused() -> None:
    with pytest.raises(ValueError, match="is not a certificate"):
        knownhosts.read_certificate(base64.b64decode(KEY.split()[1]))
