"""The command line's words before argparse reads them: pushdeploy's options moved before ENV.

TJ's deploy took its options anywhere; argparse takes them before ENV (the words after it are a
command and its own words, or a ref). ``options_first`` bridges the two.
"""

from __future__ import annotations

from collections.abc import Iterable

# Commands whose words after them are their own (a command line, a subcommand's options).
OWN_WORDS = {"exec", "console", "monitor", "systemd"}
VALUED = {"-c", "--config", "-C", "--chdir", "-H", "--host", "--wait", "--host-key"}


def options_first(
    argv: list[str], known: Iterable[str], aliases: dict[str, str], first: set[str]
) -> list[str]:
    """Move pushdeploy's own options given after ENV to the front (``pushdeploy production
    --dry-run``), as TJ's deploy took them anywhere. Not after a command that owns its words
    (``exec ls -la``), nor after ``--``; an unknown option stays where it is, and dispatch says
    options go first. ``known``: the option strings; ``first``: words that come before ENV
    (``init``), after which nothing moves."""
    front: list[str] = []
    rest: list[str] = []
    i, env_seen, command = 0, False, None
    while i < len(argv):
        word = argv[i]
        name = word.split("=", 1)[0]
        if word == "--" or command in OWN_WORDS or (not env_seen and word in first):
            rest += argv[i:]
            break
        if name in known:
            takes = name in VALUED and "=" not in word and i + 1 < len(argv)
            front += argv[i : i + (2 if takes else 1)]
            i += 2 if takes else 1
            continue
        if not env_seen:
            env_seen = True
        elif command is None:
            command = aliases.get(word, word)
        rest.append(word)
        i += 1
    return front + rest
