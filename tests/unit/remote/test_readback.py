"""The typed read-back of marker values: one parser, each kind declaring exactly what it prints.

Three things are held here: ``readback.read`` turns each kind's markers into its dataclass
(converted, checked, defaults for what was not said); no module but readback.py reads an
Outcome's ``values`` (or compares a marker's key with a name); and each kind's declaration
names exactly the ``value NAME`` markers its generated script can print, found by reading the
script's bash (its own lines, and the functions of prelude.sh and the sources' libraries it
calls), so that declarations and scripts cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

import pushdeploy
from pushdeploy import sources
from pushdeploy.cli import doctor
from pushdeploy.config import deployconf as config
from pushdeploy.config.environment import Environment
from pushdeploy.remote import protocol, readback, scripts, status
from pushdeploy.remote.protocol import Outcome

SHA = "0123456789abcdef" * 2 + "01234567"
ID, OLD = "20240102T030405Z-0123456", "20240101T000000Z-89abcde"
RUN = scripts.Run("t0k3n", "me@laptop", "me@laptop", "20240102T030405Z")
PACKAGE = Path(pushdeploy.__file__).resolve().parent


def outcome(*markers: str) -> Outcome:
    said = Outcome(0)
    for marker in markers:
        said.add(protocol.parse(protocol.PREFIX + marker))
    return said


CASES: list[tuple[type[Any], list[str], Any]] = [
    (readback.Deploy, [], readback.Deploy()),
    (
        readback.Deploy,
        [
            f"value previous {OLD}", "value ref main", f"value sha {SHA}", f"value release {ID}",
            "value prepared yes", "value migrated yes", f"value live {ID}", "value checked yes",
        ],
        readback.Deploy(
            previous=OLD, ref="main", sha=SHA, release=ID, prepared=True, migrated=True, live=ID,
            checked=True,
        ),
    ),
    (
        readback.Deploy,
        ["value previous ", f"value unchanged {OLD}", f"value release {OLD}"],
        readback.Deploy(previous="", unchanged=OLD, release=OLD),
    ),
    (readback.Deploy, ["value holder ann (pid 1)"], readback.Deploy(holder="ann (pid 1)")),
    (readback.Progress, [], readback.Progress()),
    (
        readback.Progress,
        ["value ref v1", f"value sha {SHA}", f"value live {ID}", "value unchanged x"],
        readback.Progress(ref="v1", sha=SHA, live=ID, unchanged=True),
    ),
    (readback.Live, ["value live ../../etc", "value link /srv/app/source/"], readback.Live("", "/srv/app/source/")),
    (readback.Listing, [f"value live {ID}", "value setup yes", "value lock ann"], readback.Listing(ID, "", True, "ann")),
    (readback.Listing, ["value setup no"], readback.Listing(setup=False)),
    (
        readback.Revert,
        [f"value live {OLD}", "value asked yes", f"value release {ID}", f"value live {ID}"],
        readback.Revert(live=ID, asked=True, release=ID),
    ),
    (readback.Unlock, [], readback.Unlock()),
    (readback.Unlock, ["value holder ann", "value removed yes"], readback.Unlock("ann", True)),
    (readback.Rollback, ["value holder ann"], readback.Rollback("ann")),
    (readback.Setup, [], readback.Setup()),
    (
        readback.Status,
        [
            f"value live {ID}", f"value sha {SHA}", "value lock_age 42", "value disk 100 50",
            "value inodes 0 0", "value monitor_status 3", "value setup yes",
        ],
        readback.Status(
            live=ID, sha=SHA, lock_age=42, disk=(100, 50), inodes=(0, 0), monitor_status="3", setup=True
        ),
    ),
    (
        readback.Status,
        [
            "value live x; rm -rf /", "value sha 3f2a", "value lock_age -1",
            "value disk ½ 1" + "9" * 30, "value lock " + "x" * 400, "value link " + "y" * 1200,
        ],
        readback.Status(lock="x" * 300 + "…", link="y" * 1000 + "…"),
    ),
    (readback.Doctor, [], readback.Doctor()),
    (
        readback.Doctor,
        [
            "value path /bin", "value hook_path ", "value repo no", "value agent no",
            "value setup yes", "value disk 1024", "value inodes 10 0", "value monitor_status none",
        ],
        readback.Doctor(
            path="/bin", hook_path="", repo=False, agent="no", setup=True, disk="1024", inodes="10 0",
            monitor_status="none",
        ),
    ),
    (readback.Doctor, ["value repo yes", "value repo_error x"], readback.Doctor(repo=True, repo_error="x")),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "markers", "expected"), CASES)
def test_read_turns_a_kinds_markers_into_its_typed_values(
    kind: type[Any], markers: list[str], expected: Any
) -> None:
    assert expected == readback.read(kind, outcome(*markers))


def test_only_value_markers_are_read_and_a_later_value_wins() -> None:
    said = outcome("value live a", "line live b", "warn live c", f"value live {ID}", "fail live d")
    assert readback.Live(live=ID) == readback.read(readback.Live, said)


def test_what_a_script_says_while_it_runs_is_named_by_its_kind() -> None:
    waits = [protocol.parse(protocol.PREFIX + f"value {name} yes") for name in readback.WAITS]
    assert all(readback.waits(marker) for marker in waits)
    assert not readback.waits(protocol.parse(protocol.PREFIX + "line prepared yes"))
    assert readback.skips(protocol.parse(protocol.PREFIX + f"value unchanged {ID}"))
    assert {"prepared", readback.SKIPS} <= readback.names(readback.Deploy)
    assert "asked" in readback.names(readback.Revert)


# No module but readback.py reads marker values (protocol.py's Outcome stores them).
READERS = {"remote/readback.py", "remote/protocol.py"}


def string_key_reads(tree: ast.AST) -> list[str]:
    """``x.values`` used other than as ``x.values()`` (a dict's method), and a marker's ``.key``
    compared with a name written out."""
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    found = [
        ast.unparse(n)
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and n.attr == "values" and id(n) not in called
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            keyed = any(isinstance(s, ast.Attribute) and s.attr == "key" for s in sides)
            named = any(isinstance(s, ast.Constant | ast.Set) for s in sides)
            if keyed and named:
                found.append(ast.unparse(node))
    return found


@pytest.mark.parametrize(
    "path",
    [
        p.relative_to(PACKAGE).as_posix()
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.relative_to(PACKAGE).as_posix() not in READERS
    ],
)
def test_no_module_but_readback_reads_marker_values_by_name(path: str) -> None:
    tree = ast.parse((PACKAGE / path).read_text(encoding="utf-8"), path)
    assert string_key_reads(tree) == []


def test_the_string_key_rule_catches_every_way_of_reading() -> None:
    code = (
        "a = o.values['x']\nb = o.values.get('x')\nc = 'x' in o.values\nv = o.values\n"
        "d = m.key == 'x'\ne = m.key in {'x'}\nf = list(o.values())\ng = m.key in NAMES\n"
    )
    assert len(string_key_reads(ast.parse(code))) == 6


# What each generated script can print: its own lines' ``value NAME``, and those of every
# bash function it calls (prelude.sh, a source's library, a body's own), transitively.
VALUE = re.compile(r"(?:^|[;{()]|&&|\|\||\bthen|\belse|\bdo)\s*value ([a-z_]+)\b", re.MULTILINE)
FUNCTION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(\) \{(.*)$")
QUOTED = re.compile(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"")


def code_of(text: str) -> str:
    """The text without comments, and each quoted string reduced to the command substitutions
    in it (a message may say "value"; ``"$(live_release)"`` calls a function)."""
    lines = [re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines()]
    code = "\n".join(line for line in lines if line.strip())
    return QUOTED.sub(lambda m: " ".join(re.findall(r"\$\(([^)]*)\)", m[0])) or "Q", code)


def functions(script: str) -> tuple[dict[str, str], str]:
    """The script's bash functions (name -> body) and the rest: what ``main`` runs itself."""
    defined: dict[str, str] = {}
    rest: list[str] = []
    lines = script.splitlines()
    i = 0
    while i < len(lines):
        found = FUNCTION.match(lines[i])
        if found and found[1] != "main":
            if found[2].rstrip().endswith("}"):  # one line: name() { ...; }
                defined[found[1]] = found[2]
            else:
                end = lines.index("}", i + 1)
                defined[found[1]] = "\n".join(lines[i + 1 : end])
                i = end
        elif not found:
            rest.append(lines[i])
        i += 1
    return defined, "\n".join(rest)


def printed(script: str) -> set[str]:
    defined, rest = functions(code_of(script))

    def calls(text: str) -> set[str]:
        return {name for name in defined if re.search(rf"(?<![\w-]){name}(?![\w-])", text)}

    names, seen, todo = set(VALUE.findall(rest)), set(), calls(rest)
    while todo:
        name = todo.pop()
        seen.add(name)
        names |= set(VALUE.findall(defined[name]))
        todo |= calls(defined[name]) - seen
    return names


def environment(tmp_path: Path, source: str) -> Environment:
    path = tmp_path / "deploy.conf"
    path.write_text(
        "[production]\nhost = deploy@app1\npath = /srv/app\n"
        f"{source}\nmigrate = rake db:migrate\npre-deploy = true\nhealth = /health\n"
        "restart = monitor\napp = python3 app.py\nlisten = 127.0.0.1:3000\n",
        encoding="utf-8",
    )
    return config.load(path, "production")


SOURCES = ["repo = https://git.example.com/app.git", "artifact = https://ci.example.com/a.tgz"]


def every_kind(env: Environment) -> dict[type[Any], list[str]]:
    source = sources.of(env)
    return {
        readback.Deploy: [
            scripts.deploy(env, RUN, "main", source=source),
            scripts.deploy(env, RUN, "main", fleet=True, source=source),
        ],
        readback.Revert: [scripts.revert(env, RUN, source)],
        readback.Rollback: [scripts.rollback(env, RUN, ID, OLD, source)],
        readback.Setup: [scripts.setup(env, RUN, source)],
        readback.Listing: [scripts.status(env, source)],
        readback.Unlock: [scripts.unlock(env, source)],
        readback.Status: [status.script(env, source)],
        readback.Doctor: [doctor.script(env, RUN)],
    }


@pytest.fixture(scope="module")
def said_by_kind(tmp_path_factory: pytest.TempPathFactory) -> dict[type[Any], set[str]]:
    found: dict[type[Any], set[str]] = {}
    for number, source in enumerate(SOURCES):
        env = environment(tmp_path_factory.mktemp(f"env{number}"), source)
        for kind, texts in every_kind(env).items():
            found.setdefault(kind, set()).update(*(printed(text) for text in texts))
    return found


@pytest.mark.parametrize("kind", readback.KINDS, ids=lambda kind: kind.__name__)
def test_each_kind_declares_exactly_the_values_its_script_prints(
    kind: type[Any], said_by_kind: dict[type[Any], set[str]]
) -> None:
    assert readback.names(kind) == said_by_kind[kind]


@pytest.mark.parametrize("view", readback.VIEWS, ids=lambda view: view.__name__)
def test_a_view_reads_only_values_that_scripts_print(
    view: type[Any], said_by_kind: dict[type[Any], set[str]]
) -> None:
    assert sorted(readback.names(view) - set().union(*said_by_kind.values())) == []


def test_every_value_the_bash_files_print_is_declared_by_some_kind() -> None:
    """prelude.sh and the other bash libraries, whole (also functions no kind calls today)."""
    declared = set().union(*(readback.names(kind) for kind in readback.KINDS))
    libraries = [*PACKAGE.glob("remote/*.sh"), *PACKAGE.glob("sources/*.sh")]
    texts = [path.read_text(encoding="utf-8") for path in libraries]
    said = set().union(*(VALUE.findall(code_of(text)) for text in texts))
    assert said and sorted(said - declared) == []


def test_the_scan_finds_values_where_bash_prints_them() -> None:
    script = (
        'main() {\nf() {\n  if x; then value a "$1"; else value b no; fi\n}\n'
        "g() { value c; f; }\nunused() { value d; }\n# value e: a comment\n"
        'warn "the value f is said in a message"; g && value h yes\n}\n'
    )
    assert {"a", "b", "c", "h"} == printed(script)
