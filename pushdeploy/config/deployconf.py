"""deploy.conf: read it with iniconfig, validate every key, and hand out a frozen ``Environment``.

Everything here happens before any connection: a typo, a missing key or a bad value stops the run
with ``deploy.conf:LINE: [section] key: what is wrong`` and, for near misses, a "did you mean".

Lookup rules (written down in deploy.conf.example as well):

* Sections are environments or projects, matched exactly (no prefix matching as in TJ's script).
* ``[defaults]`` applies to every section; ``inherit = other`` takes another section's values first.
  Precedence: the section itself, then its ``inherit`` chain nearest first, then ``[defaults]``.
* A key written with an empty value (``build =``) clears what it would inherit: the key is as if
  never set (its default, or unset); a required key cannot be cleared, and ``inherit =`` follows
  no section. TJ's ``key value`` form cannot be empty (a bare ``key`` line is a syntax error).
* Both ``key = value`` and TJ's ``key value`` lines are read; indented lines continue a value.

Values from outside the file, so deploy.conf can be committed: ``$NAME`` and ``${NAME}`` in
``env`` values expand from the local environment (``$$`` is a ``$``; a name that is not set is an
error), and ``secrets-file`` names a local dotenv file whose pairs join ``env``, winning over it for
the same name. Both are recorded in ``Environment.external`` so every output can hide them.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

import iniconfig

from pushdeploy.config import credentials, keys, secrets
from pushdeploy.config.environment import SECTIONS, Environment, Setting
from pushdeploy.config.keys import KEYS
from pushdeploy.errors import ConfigError

DEFAULTS_SECTION = "defaults"
# TJ's `key value` line: a bare key, blanks, then a value that does not start with = or :.
_TJ_LINE = re.compile(r"^(?P<key>[A-Za-z][A-Za-z0-9_-]*)[ \t]+(?P<value>[^=:\s].*)$")


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"no config file at {path}",
            "create one: 'pushdeploy init ENV --host HOST --path PATH', or pass -c FILE",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def normalize(text: str) -> str:
    """Rewrite TJ's ``key value`` lines as ``key = value``; every line keeps its number."""
    out = []
    for line in text.splitlines():
        match = _TJ_LINE.match(line)
        out.append(f"{match['key']} = {match['value']}" if match else line)
    return "\n".join(out) + "\n"


def parse(text: str, source: str) -> iniconfig.IniConfig:
    try:
        ini = iniconfig.IniConfig(source, data=normalize(text))
    except iniconfig.ParseError as exc:
        raise ConfigError(f"{source}:{exc.lineno + 1}: {_cut(exc.msg)}") from None
    for section, values in ini.sections.items():
        for name in values:
            if name not in KEYS:
                where = f"{source}:{ini.lineof(section, name)}: [{_cut(section)}] {_cut(name)}"
                hint = suggest(name, KEYS) if len(name) <= 100 else suggest("", ())
                raise ConfigError(f"{where}: unknown key", hint)
    return ini


def _cut(text: str, limit: int = 100) -> str:
    """A name or line from the file, short enough for a one-line error."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def sections(ini: iniconfig.IniConfig) -> list[str]:
    return [name for name in ini.sections if name != DEFAULTS_SECTION]


def suggest(word: str, choices: object) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)  # type: ignore[call-overload]
    if close:
        return f"did you mean '{close[0]}'?"
    return "see deploy.conf.example for the keys"


def effective(ini: iniconfig.IniConfig, name: str) -> dict[str, Setting]:
    """Merge ``[defaults]``, the ``inherit`` chain and the section itself, nearest last."""
    if name not in ini.sections or name == DEFAULTS_SECTION:
        known = sections(ini)
        hint = suggest(name, known) if known and len(name) <= 100 else f"{ini.path} has no sections"
        if known and not hint.startswith("did"):
            hint = "sections: " + ", ".join(known)
        raise ConfigError(f"no section [{_cut(name)}] in {ini.path}", hint)
    chain: list[str] = []
    current: str | None = name
    while current is not None:
        if current in chain:
            cycle = " -> ".join([*chain, current])
            raise ConfigError(f"{ini.path}: [{name}] inherit: cycle {cycle}")
        chain.append(current)
        parent = ini.sections[current].get("inherit", "").strip() or None  # `inherit =`: none
        if parent is not None and parent not in ini.sections:
            line = ini.lineof(current, "inherit")
            hint = suggest(parent, sections(ini))
            if not hint.startswith("did"):
                hint = "sections: " + ", ".join(sections(ini))
            raise ConfigError(
                f"{ini.path}:{line}: [{current}] inherit: no section [{parent}]", hint
            )
        current = parent
    if DEFAULTS_SECTION in ini.sections:
        chain.append(DEFAULTS_SECTION)
    merged: dict[str, Setting] = {}
    for section in reversed(chain):
        for key, value in ini.sections[section].items():
            if key == "inherit" and section != name:  # only the section's own: `config inherit`
                continue
            merged[key] = Setting(value, section, ini.lineof(section, key) or 0)
    return merged


def load(
    path: Path,
    name: str,
    overrides: Mapping[str, str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Environment:
    """Read ``path`` and return the validated environment ``name``.

    ``environ`` is what ``$NAME`` in ``env`` expands from (default: this process's environment);
    ``warn`` hears about a secrets-file that other users can read.
    """
    source = str(path)
    ini = parse(read_text(path), source)
    merged = effective(ini, name)
    for key, value in (overrides or {}).items():
        if key not in KEYS:
            raise ConfigError(f"unknown key {key!r}", suggest(key, KEYS))
        merged[key] = Setting(value, "command line", 0)
    return build_environment(name, source, merged, environ=environ, warn=warn)


def build_environment(
    name: str,
    source: str,
    merged: Mapping[str, Setting],
    *,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Environment:
    """The ``Environment`` of section ``name`` from its ``merged`` settings (read from ``source``):
    each key's value, from the file or its default, put in the section the key names in KEYS;
    a key written empty is as if never written (``cleared``)."""
    merged = cleared(name, source, merged)
    values: dict[str, object] = {}  # by key name
    for key, setting in merged.items():
        spec = KEYS[key]
        try:
            values[key] = spec.convert(setting.value)
        except ValueError as exc:
            raise ConfigError(f"{where(source, setting)} [{name}] {key}: {exc}") from None
    for key, spec in KEYS.items():
        if spec.required and key not in merged:
            raise ConfigError(
                f"{source}: [{name}] {key}: required key is missing",
                f"add '{key} = ...' to [{name}] or [defaults] ({spec.doc})",
            )
        if key not in merged:  # the default, through the same converter
            values[key] = None if spec.default is None else spec.convert(spec.default)
    external: list[tuple[str, str]] = []
    local = os.environ if environ is None else environ
    if "env" in merged:
        try:
            values["env"] = secrets.expand_pairs(values["env"], external, local)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ConfigError(
                f"{where(source, merged['env'])} [{name}] env: {exc}",
                "export it before running pushdeploy, or write $$ for a literal $",
            ) from None
    pairs: list[tuple[str, str]] = []
    if "secrets-file" in merged:
        pairs = read_secrets_file(merged["secrets-file"], source, name, warn)
        values["env"] = secrets.with_overrides(values.get("env", ()), pairs)  # type: ignore[arg-type]
        external += pairs
    for key in keys.SECRET_KEYS:
        if key in merged:  # $NAME: the secret itself, hidden everywhere
            secret = read_reference(key, merged[key], source, name, local, dict(pairs))
            values[key] = secret
            external.append((key.upper().replace("-", "_"), secret))
    env = Environment(
        name=name,
        config_file=source,
        settings=dict(merged),
        external=tuple(external),
        **in_sections(values),  # type: ignore[arg-type]
    )
    keys.check_combination(env, source)
    return env


def cleared(name: str, source: str, merged: Mapping[str, Setting]) -> dict[str, Setting]:
    """``merged`` without the keys written with an empty value (``build =``): a section clears
    what it would inherit so, back to the key's default. A required key cannot be cleared."""
    for key, setting in merged.items():
        if KEYS[key].required and not setting.value.strip():
            raise ConfigError(
                f"{where(source, setting)} [{name}] {key}: a required key cannot be cleared",
                f"give it a value ({KEYS[key].doc}), or remove the line to inherit it",
            )
    return {key: setting for key, setting in merged.items() if setting.value.strip()}


def in_sections(values: Mapping[str, object]) -> dict[str, object]:
    """Environment's keyword arguments from every key's value: a top-level key's field, and each
    section built from the fields of the keys that name it."""
    top: dict[str, object] = {}
    fields: dict[str, dict[str, object]] = {section: {} for section in SECTIONS}
    for key, value in values.items():
        spec = KEYS[key]
        (fields[spec.section] if spec.section else top)[spec.attr] = value
    return top | {section: SECTIONS[section](**given) for section, given in fields.items()}


def read_reference(
    key: str,
    setting: Setting,
    source: str,
    name: str,
    local: Mapping[str, str],
    pairs: Mapping[str, str],
) -> str:
    """The secret a ``$NAME`` key names: this machine's variable NAME (``local``), else NAME in
    secrets-file (``pairs``): credentials.token, before any connection."""
    try:
        return credentials.token(setting.value.strip(), local, pairs)
    except ConfigError as exc:
        message = exc.message.replace(credentials.KEY, key)
        hint = exc.hint.replace(credentials.KEY, key) if exc.hint else None
        raise ConfigError(f"{where(source, setting)} [{name}] {message}", hint) from None


def where(source: str, setting: Setting) -> str:
    return f"{source}:{setting.line}:" if setting.line else f"{source} ({setting.section}):"


def read_secrets_file(
    setting: Setting, source: str, name: str, warn: Callable[[str], None] | None
) -> list[tuple[str, str]]:
    """The pairs of ``secrets-file`` (a local dotenv file, relative to deploy.conf's directory)."""
    path = Path(source).parent / Path(setting.value.strip()).expanduser()
    what = f"{where(source, setting)} [{name}] secrets-file"
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(
            f"{what}: no file at {path}",
            "create it with NAME=value lines (chmod 600, keep it out of git), or remove the key",
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what}: {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None
    if warn is not None and mode & (stat.S_IRGRP | stat.S_IROTH):
        warn(f"{path} holds secrets but others can read it (mode {mode & 0o777:o}); chmod 600 it")
    try:
        return secrets.parse_dotenv(text)
    except secrets.DotenvError as exc:
        hint = "see secrets-file in deploy.conf.example"
        raise ConfigError(f"{path}:{exc.line}: {exc}", hint) from None
