"""Hosts and users as OpenSSH >= 9.6 accepts them, and shell words split in linear time.

The host rules (hosts.parse_host / check_host_name / check_user) keep every shell metacharacter,
blank, control and non-ASCII character out of what Paramiko substitutes for %h / %r in a
~/.ssh/config ``Match exec`` line (run through a shell), and keep over-long names away from the
socket module's IDNA step (which raises UnicodeError). ``split_words`` is shlex.split without
shlex's quadratic cost.
"""

from __future__ import annotations

import random
import shlex

import pytest

from pushdeploy.config.hosts import Host, check_user, parse_host, parse_hosts
from pushdeploy.config.values import split_words


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("app1", Host("app1", "app1")),
        ("web-1.example.com", Host("web-1.example.com", "web-1.example.com")),
        ("web_alias", Host("web_alias", "web_alias")),
        ("example.com.", Host("example.com.", "example.com.")),
        ("deploy@app1:2222", Host("deploy@app1:2222", "app1", "deploy", 2222)),
        ("d.e-p_l@app1", Host("d.e-p_l@app1", "app1", "d.e-p_l")),
        ("10.0.0.1:22", Host("10.0.0.1:22", "10.0.0.1", None, 22)),
        ("[::1]:2222", Host("[::1]:2222", "::1", None, 2222)),
        ("[2001:db8::1]", Host("[2001:db8::1]", "2001:db8::1")),
        ("a" * 63 + ".com", Host("a" * 63 + ".com", "a" * 63 + ".com")),
        ("local", Host("local", "local")),
    ],
)
def test_a_plain_host_spec_is_accepted(spec: str, expected: Host) -> None:
    assert parse_host(spec) == expected


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("-oProxyCommand=touch%20x", "starts with '-'"),
        ("h$(touch x)", "expected [user@]host[:port]"),
        ("`touch x`", "expected [user@]host[:port]"),
        ("`id`", "only letters, digits"),
        ("a;b", "only letters, digits"),
        ("a|b", "only letters, digits"),
        ("a&b", "only letters, digits"),
        ("a>b", "only letters, digits"),
        ("a'b", "only letters, digits"),
        ('a"b', "only letters, digits"),
        ("a\\b", "only letters, digits"),
        ("a{b,c}", "only letters, digits"),
        ("a$b", "only letters, digits"),
        ("a*", "only letters, digits"),
        ("a\x1b[31mb", "expected [user@]host[:port]"),
        ("a\x1bb", "only letters, digits"),
        ("a\x7fb", "only letters, digits"),
        ("bücher.example", "only letters, digits"),
        ("a\u202eb", "only letters, digits"),
        ("a" * 64 + ".com", "label longer than 63"),
        ("a" * 64, "label longer than 63"),
        (".".join(["a" * 60] * 5), "longer than 253"),
        ("a..b", "empty label"),
        (".a", "empty label"),
        ("[1:2:3]", "not an IPv6 address"),
        ("[::1]:0", "port from 1 to 65535"),
        ("[::1]:99999", "port from 1 to 65535"),
        ("h:" + "9" * 5000, "too long"),
        ("-u@h", "user '-u' starts with '-'"),
        ("u;x@h", "user 'u;x': only letters"),
        ("u`x`@h", "user 'u`x`': only letters"),
        ("u$x@h", "user 'u$x': only letters"),
        ("a@b@c", "expected [user@]host[:port]"),
        ("h" * 1_000_000, "too long"),
    ],
)
def test_a_host_spec_with_anything_a_shell_or_dns_would_trip_on_is_refused(
    spec: str, problem: str
) -> None:
    with pytest.raises(ValueError) as info:
        parse_host(spec)
    assert problem in str(info.value)


def test_a_refused_host_is_shown_short_and_escaped_in_the_message() -> None:
    with pytest.raises(ValueError) as info:
        parse_host("\x1b" + "a" * 10_000)
    message = str(info.value)
    assert "\x1b" not in message
    assert "\\x1b" in message
    assert len(message) < 300


@pytest.mark.parametrize("user", ["deploy", "d_e.p-l0y", "svc@corp.example", "_build"])
def test_a_plain_user_is_accepted(user: str) -> None:
    assert check_user(user) == user


@pytest.mark.parametrize(
    "user",
    ["", "-oProxyCommand=x", "a b", "a\tb", "a;b", "$(id)", "`id`", "a|b", "a\nb", "ü", "x" * 257],
)
def test_a_user_with_blanks_metacharacters_or_a_leading_dash_is_refused(user: str) -> None:
    with pytest.raises(ValueError):
        check_user(user)


def test_a_host_list_of_plain_names_parses_and_a_bad_one_spoils_it() -> None:
    assert [h.name for h in parse_hosts("a b.example c@d:2")] == ["a", "b.example", "d"]
    with pytest.raises(ValueError, match="only letters"):
        parse_hosts("a b;touch c")


# --- split_words ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("A=1 B=2", ["A=1", "B=2"]),
        ("A='x y' B=\"p q\"", ["A=x y", "B=p q"]),
        ("A=\\$HOME", ["A=$HOME"]),
        ('A="a\\"b\\\\c\\d"', ['A=a"b\\c\\d']),
        ("A='' B=", ["A=", "B="]),
        ("''", [""]),
        ("A=1\n\tB=2\r\n", ["A=1", "B=2"]),
        ("A=a\\\nb", ["A=a\nb"]),
        ("A=#not-a-comment", ["A=#not-a-comment"]),
        ("", []),
    ],
)
def test_split_words_reads_shell_words_as_shlex_does(text: str, words: list[str]) -> None:
    assert split_words(text) == words == shlex.split(text, comments=False, posix=True)


@pytest.mark.parametrize("text", ["A='x", 'A="x', 'A="x\\', "A=x\\"])
def test_split_words_refuses_an_unclosed_quote_or_a_final_backslash(text: str) -> None:
    with pytest.raises(ValueError):
        split_words(text)


def test_split_words_agrees_with_shlex_on_random_text() -> None:
    """A seeded sample of short strings over the characters that matter to the grammar."""
    alphabet = ["a", "=", " ", "\t", "\n", "'", '"', "\\", "$", "#"]
    rng = random.Random(7)
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        try:
            expected: list[str] | type[ValueError] = shlex.split(text, posix=True)
        except ValueError:
            expected = ValueError
        try:
            actual: list[str] | type[ValueError] = split_words(text)
        except ValueError:
            actual = ValueError
        assert actual == expected, repr(text)


def test_split_words_keeps_a_one_megabyte_word_whole() -> None:
    assert split_words("A='" + "x" * 1_000_000 + "'") == ["A=" + "x" * 1_000_000]
