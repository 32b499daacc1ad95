"""What text may reach a terminal: control characters shown as visible escapes.

Text read from a server (history fields, hook output, step names, failure messages) is untrusted:
a planted ``\\x1b]...`` or a bidi override could rewrite the user's terminal or hide text. The
console shows it, and the local log writes it, through ``visible``. Standard library only, so the
log needs no rich.
"""

from __future__ import annotations

import re

# C0 controls but tab (newline too unless kept), DEL, C1 controls, and the bidi embeddings,
# overrides, isolates and marks (Trojan Source, CVE-2021-42574).
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\n{_CONTROLS}]")
_UNSAFE_BUT_NEWLINE = re.compile(f"[{_CONTROLS}]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, newlines: bool = False) -> str:
    """``text`` with terminal controls shown as escapes (``\\x1b``, ``\\u202e``); tab stays."""
    return (_UNSAFE_BUT_NEWLINE if newlines else _UNSAFE).sub(_escape_char, text)
