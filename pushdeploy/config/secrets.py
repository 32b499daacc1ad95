"""Secrets: which env names are secret, passwords in URLs, masking known values, dotenv files.

Pure (no I/O). Four things live here, used by ``config``, ``--dry-run``, ``systemd``, the
console, the local logs and the notifications:

* ``is_secret_name``: an env name holding PASS, SECRET, TOKEN, KEY, CREDENTIAL, PRIVATE or AUTH
  anywhere, or PAT as a whole ``_``-separated word (``GITHUB_PAT``, not ``PATH``), any case.
* ``redact_urls``: ``scheme://user:PASSWORD@`` becomes ``user:***@``; an http(s) URL with a lone
  user part (``https://TOKEN@host``) becomes ``https://***@host``. scp-style ``git@host:x`` and
  ``ssh://git@host`` name a user, not a secret, and stay.
* ``redacted(env)``: the environment with secret values replaced by ``***`` (what ``--dry-run``
  builds its scripts from), ``mask_values(env)``: every value no output may show, ``masker(env)``:
  the one ``Masker`` of them that every way out applies (``masked`` for JSON data), and
  ``redact(key, text)``: a key's deploy.conf text with its secrets hidden.
* ``parse_dotenv``: the ``secrets-file`` format (``NAME=value``, ``export NAME=value``, comments,
  single and double quotes).

Error messages here never contain a value: they name the line or the variable instead.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar, cast
from urllib.parse import urlsplit

from pushdeploy.config import keys
from pushdeploy.config.values import env_pairs

if TYPE_CHECKING:
    from pushdeploy.config.environment import Environment

HIDDEN = "***"
_T = TypeVar("_T")
# The console masks only values at least this long: `SECRET_ENABLED=1` must not turn every "1"
# of the output into ***. Shorter secret values are still hidden by name (config, --dry-run).
MIN_MASK_LENGTH = 6

_SECRET_NAME = re.compile(
    r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE|AUTH|(?:^|_)PAT(?:_|$)", re.IGNORECASE
)
# scheme://userinfo@ -- userinfo runs to the last @ before the host (a raw @ in a password too).
# The lookbehind keeps it linear: a scheme starts where no scheme character stands before it.
_URL_USERINFO = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#]*)@"
)
_TOKEN_SCHEMES = {"http://", "https://"}
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# $$, ${NAME}, $NAME, or a "${" that is none of them; any other "$" is itself.
_REFERENCE = re.compile(
    rf"\$(?:\{{(?P<braced>{_NAME})\}}|(?P<name>{_NAME})|(?P<dollar>\$)|(?P<bad>\{{))"
)


def is_secret_name(name: str) -> bool:
    return _SECRET_NAME.search(name) is not None


def _hide_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match["scheme"], match["userinfo"]
    user, colon, _password = userinfo.partition(":")
    if colon:
        return f"{scheme}{user}:{HIDDEN}@"
    if userinfo and scheme.lower() in _TOKEN_SCHEMES:
        return f"{scheme}{HIDDEN}@"
    return match[0]


def redact_urls(text: str) -> str:
    """``text`` with the passwords and tokens of the URLs in it replaced by ``***``."""
    return _URL_USERINFO.sub(_hide_userinfo, text)


def url_secrets(text: str) -> list[str]:
    """The passwords and tokens that ``redact_urls`` hides in ``text``."""
    found = []
    for match in _URL_USERINFO.finditer(text):
        userinfo = match["userinfo"]
        _, colon, password = userinfo.partition(":")
        if colon and password:
            found.append(password)
        elif not colon and userinfo and match["scheme"].lower() in _TOKEN_SCHEMES:
            found.append(userinfo)
    return found


def expand(value: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """``$NAME`` and ``${NAME}`` replaced from ``environ``, ``$$`` by ``$``; also the texts put in.

    A ``$`` that cannot start a name (``$(``, ``5$``, ``$1``) stays as it is. Raises ``ValueError``
    naming the variable (never the value) for a name that is not set, and for a ``${`` that is
    not ``${NAME}``.
    """
    pieces: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        if match["dollar"]:
            return "$"
        name = match["braced"] or match["name"]
        if name is None:
            raise ValueError("'${' must be followed by NAME} (write $$ for a literal $)")
        if name not in environ:
            raise ValueError(f"${name} is not set in your environment")
        pieces.append(environ[name])
        return environ[name]

    return _REFERENCE.sub(substitute, value), pieces


def expand_pairs(
    pairs: tuple[tuple[str, str], ...],
    external: list[tuple[str, str]],
    environ: Mapping[str, str],
) -> tuple[tuple[str, str], ...]:
    """``expand`` on each value; what was put in is added to ``external`` as ``(name, text)``.
    A ``ValueError`` names the pair and the variable."""
    expanded = []
    for name, value in pairs:
        if "$" in value:
            try:
                value, pieces = expand(value, environ)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            external += [(name, piece) for piece in pieces]
        expanded.append((name, value))
    return tuple(expanded)


def with_overrides(
    pairs: tuple[tuple[str, str], ...], overrides: list[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """``pairs`` with every name ``overrides`` sets given its value there (in place); names only
    ``overrides`` has are appended in their order. This is how a secrets-file wins over ``env``."""
    latest = dict(overrides)
    kept = [(name, latest.get(name, value)) for name, value in pairs]
    seen = {name for name, _ in pairs}
    return tuple(kept + [(name, value) for name, value in latest.items() if name not in seen])


class Masker:
    """Replaces every occurrence of known secret values in a text with ``***`` (CI log masking).

    Values shorter than ``MIN_MASK_LENGTH`` are left alone; a multi-line value is also masked
    line by line (output arrives a line at a time), and so is its shell-quoted form.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for value in values:
            forms.update({value, shlex.quote(value), *value.splitlines()})
        kept = sorted((f for f in forms if len(f.strip()) >= MIN_MASK_LENGTH), key=len)
        self._pattern = re.compile("|".join(re.escape(f) for f in reversed(kept))) if kept else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        return self._pattern.sub(HIDDEN, text) if self._pattern is not None else text


def secret_env_names(env: Environment) -> set[str]:
    """Env names whose whole value is hidden: secret-looking, or filled from outside deploy.conf."""
    names = {name for name, _ in env.env if is_secret_name(name)}
    return names | {name for name, _ in env.external}


# The keys whose text may hold a URL with a password or token in it.
URL_TEXTS = ("repo", "artifact", "pre-deploy", "post-deploy", "test", "build", "restart", "health")


def redacted(env: Environment) -> Environment:
    """``env`` as ``config`` and ``--dry-run`` may print it: secret env values, URL passwords,
    every key that names a secret (``$NAME``: repo-token, notify-secret, smtp-password,
    github-token, webhook-secret) and the paths of notify's URLs (a Slack URL's path is its
    secret) hidden."""
    hidden = secret_env_names(env)
    pairs = tuple(
        (name, HIDDEN if name in hidden else redact_urls(value)) for name, value in env.env
    )
    texts = {
        key: redact_urls(value)
        for key in URL_TEXTS
        if isinstance(value := keys.value_of(env, key), str)
    }
    named = {key: HIDDEN for key in keys.SECRET_KEYS if keys.value_of(env, key)}
    targets = tuple((kind, tuple(map(shown_arg, args))) for kind, args in env.notify.targets)
    shown = keys.replaced(env, {"env": pairs, "notify": targets, **texts, **named})
    return dataclasses.replace(shown, external=())


def shown_url(url: str) -> str:
    """``https://hooks.slack.com/...``: scheme and host, userinfo hidden, the rest elided (a
    Slack URL's path is its secret); for notify's warnings and ``config`` alike."""
    parts = urlsplit(url)
    rest = "/..." if parts.path.strip("/") or parts.query else ""
    return redact_urls(f"{parts.scheme}://{parts.netloc}") + rest


def shown_arg(text: str) -> str:
    """A notify target's argument as shown: an http(s) URL by ``shown_url``, others as they are."""
    return shown_url(text) if text.startswith(("http://", "https://")) else text


def mask_values(env: Environment) -> list[str]:
    """Every value no output may show for ``env``: secret env values, those from outside
    deploy.conf (``$NAME``, secrets-file, secret keys) and URL passwords (see ``masker``)."""
    hidden = secret_env_names(env)
    values = [value for name, value in env.env if name in hidden]
    values += [text for _, text in env.external]
    texts: list[str | None] = [value for _, value in env.env]
    texts += [keys.value_of(env, key) for key in URL_TEXTS]
    for text in texts:
        if text:
            values += url_secrets(text)
    return [value for value in values if value]


def masker(env: Environment) -> Masker:
    """THE mask of every way out: the terminal, ``--json``, ``--log-format json``, the local logs
    and each notification hide ``env``'s secret values (``mask_values``) with this, alike."""
    return Masker(mask_values(env))


def masked(value: _T, mask: Callable[[str], str]) -> _T:
    """``value`` with every string in it masked: JSON data (mappings, lists), and a report (a
    dataclass of strings, tuples and dataclasses, rebuilt with ``replace``) before any text is
    made of it, so that no escaping or cutting of that text can break a secret out of its mask."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [f.name for f in dataclasses.fields(value) if f.init]
        return dataclasses.replace(value, **{f: masked(getattr(value, f), mask) for f in fields})
    if isinstance(value, Mapping):
        return cast(_T, {key: masked(item, mask) for key, item in value.items()})
    if isinstance(value, tuple):
        return cast(_T, tuple(masked(item, mask) for item in value))
    if isinstance(value, list):
        return cast(_T, [masked(item, mask) for item in value])
    return cast(_T, mask(value)) if isinstance(value, str) else value


def redact(key: str, value: str) -> str:
    """Hide secrets in the deploy.conf text of ``key``: env values with secret-looking names,
    and the passwords and tokens of URLs in any value."""
    if key == "env":
        out = []
        for name, val in env_pairs(value):
            shown_value = HIDDEN if is_secret_name(name) else shlex.quote(redact_urls(val))
            out.append(f"{name}={shown_value}")
        return " ".join(out)
    return redact_urls(value)


# --- dotenv (secrets-file) ---------------------------------------------------------------------


class DotenvError(ValueError):
    """A line of a dotenv file that cannot be read; ``line`` counts from 1."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


_ASSIGNMENT = re.compile(rf"[ \t]*(?:export[ \t]+)?(?P<name>{_NAME})[ \t]*=[ \t]*")
_DOUBLE_QUOTED = re.compile(r'"(?P<body>[^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$", "`": "`"}


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], "\\" + m[1]), body, flags=re.DOTALL)


def parse_dotenv(text: str) -> list[tuple[str, str]]:
    """``NAME=value`` pairs of a dotenv file, in order.

    One assignment per line, ``export`` allowed in front; blank lines and ``#`` lines are skipped.
    ``'single'`` quotes keep everything as written; ``"double"`` quotes understand ``\\n``,
    ``\\t``, ``\\r``, ``\\"``, ``\\\\`` and ``\\$``; both may span lines. An unquoted value ends at
    the line's end or at `` #`` (a comment), blanks around it trimmed. Nothing is expanded.
    """
    text = text.replace("\r\n", "\n")
    if "\0" in text:
        raise DotenvError(text[: text.index("\0")].count("\n") + 1, "contains a NUL byte")
    pairs: list[tuple[str, str]] = []
    pos, line = 0, 1
    while pos < len(text):  # each turn consumes at least one line
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        stripped = text[pos:end].strip()
        if not stripped or stripped.startswith("#"):
            pos, line = end + 1, line + 1
            continue
        match = _ASSIGNMENT.match(text, pos, end)
        if match is None:
            raise DotenvError(line, "expected NAME=value or export NAME=value")
        start, first = match.end(), text[match.end() : match.end() + 1]
        if first in {"'", '"'}:
            if first == "'":
                close = text.find("'", start + 1)
                value = text[start + 1 : close]
            else:
                quoted = _DOUBLE_QUOTED.match(text, start)
                close = quoted.end() - 1 if quoted else -1
                value = _unescape(quoted["body"]) if quoted else ""
            if close < 0:
                raise DotenvError(line, f"the value of {match['name']} has no closing {first}")
            end = text.find("\n", close)
            end = len(text) if end < 0 else end
            rest = text[close + 1 : end].strip()
            if rest and not rest.startswith("#"):
                raise DotenvError(
                    line, f"unexpected text after the quoted value of {match['name']}"
                )
            line_span = text.count("\n", pos, end)
        else:
            value = re.split(r"[ \t]#", text[start:end], maxsplit=1)[0].strip()
            line_span = 0
        pairs.append((match["name"], value))
        pos, line = end + 1, line + line_span + 1
    return pairs
