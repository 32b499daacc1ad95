"""The command line's words: pushdeploy's options moved before ENV, the rest read as a command.

TJ's deploy took its options anywhere; argparse takes them before ENV (the words after it are a
command and its own words, or a ref). ``options_first`` bridges the two. What a command owns
comes from its parser in commands.TABLE, so a command's own ``--all`` or ``--json`` stays with it.
``resolve`` then finds the command the words after ENV name and parses its own arguments.

A command's own flag named like a global one (``--json``, ``--all``, ``--force``) is the same
flag: given in either place, it is on in both namespaces, so ``status --json`` and ``--json
status`` both give the console its JSON mode and the handler ``opts.json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection, Mapping

from pushdeploy.cli.commands import BY_WORD, FIRST_WORDS, Command
from pushdeploy.errors import UsageError

Owned = Callable[[str], Collection[str] | None]


def options_first(
    argv: list[str], options: Mapping[str, bool], owned: Owned, first: Collection[str]
) -> list[str]:
    """Move pushdeploy's own options given after ENV to the front (``pushdeploy production
    --dry-run``), as TJ's deploy took them anywhere.

    ``options``: pushdeploy's option strings, each with whether it takes a value (moved with
    it). ``owned(word)``: the option strings that belong to the command ``word`` after it (they
    stay), None when every word after it is its own (``exec ls -la``), nothing for a ref.
    ``first``: the command words that may stand in ENV's place (``init``, ``doctor``). Nothing
    moves after ``--``; an unknown option stays where it is, and its command (or dispatch, after
    ENV) says what is wrong with it.
    """
    front: list[str] = []
    rest: list[str] = []
    mine: Collection[str] | None = ()  # the options of the command seen so far: they stay
    i, env_seen, command_seen = 0, False, False
    while i < len(argv):
        word = argv[i]
        name = word.split("=", 1)[0]
        if word == "--" or mine is None:
            rest += argv[i:]
            break
        if name in options and name not in mine:
            takes = options[name] and "=" not in word and i + 1 < len(argv)
            front += argv[i : i + (2 if takes else 1)]
            i += 2 if takes else 1
            continue
        if not word.startswith("-") and not command_seen:
            if env_seen or word in first:
                command_seen = True
                mine = owned(word)
            env_seen = True
        rest.append(word)
        i += 1
    return front + rest


def resolve(args: argparse.Namespace) -> tuple[Command, argparse.Namespace]:
    """The command the parsed global ``args`` name, and its own arguments parsed.

    ``args`` is put in the one shape the rest reads: ``args.env`` the ENV (None when ``init`` or
    ``update`` stood in its place) and ``args.words`` the command word then its words; a ref
    alone is ``deploy REF``. ``args.env`` must be set.
    """
    words = list(args.words)
    command = BY_WORD.get(args.env) if args.env in FIRST_WORDS else None
    if command is not None and command.needs_config:  # `doctor ENV` is `ENV doctor`
        word = args.env
        if not words or words[0].startswith("-"):
            command.parse(words)  # --help answers; a stray option is an error
            raise UsageError(f"{word}: name the environment: 'pushdeploy {word} ENV'")
        args.env, args.words = words[0], [word, *words[1:]]
        words = words[1:]
    elif command is not None:
        args.words, args.env = [args.env, *words], None
    elif words and words[0] in BY_WORD:
        command, words = BY_WORD[words[0]], words[1:]
    elif words and words[0].startswith("-"):
        raise UsageError(f"unknown option {words[0]!r} after {args.env}: options go before ENV")
    else:  # `pushdeploy ENV` or `pushdeploy ENV REF`
        command, args.words = BY_WORD["deploy"], ["deploy", *words]
    opts = command.parse(words)
    for dest, value in vars(opts).items():
        if isinstance(value, bool) and isinstance(getattr(args, dest, None), bool):
            setattr(opts, dest, value or getattr(args, dest))
            setattr(args, dest, value or getattr(args, dest))
    return command, opts
