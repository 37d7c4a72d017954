"""Names made safe to print on a terminal, one line each.

A file name may hold any character but ``/`` and NUL: a newline would split a table row,
``ESC [31m`` would recolour the terminal, a byte that is not UTF-8 arrives as a lone
surrogate (``os.fsdecode``'s ``surrogateescape``) and cannot even be encoded for
printing. :func:`printable` writes such characters as Python-style escapes and leaves
everything else (accents, CJK, emoji) as it is. Text output (tables, ``skipped`` lines,
error messages) goes through it; JSON output stays raw (JSON escapes control characters
itself).
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(
    "["
    "\x00-\x1f\x7f"  # C0 controls (newline, tab, ESC, ...) and DEL
    "\x80-\x9f"  # C1 controls (NEL, CSI, ...)
    "\u2028\u2029"  # line and paragraph separators
    "\u202a-\u202e\u2066-\u2069"  # bidirectional overrides and isolates (text shown reordered)
    "\ud800-\udfff"  # lone surrogates (undecodable bytes of a file name)
    "]"
)
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``str(text)`` with control characters, DEL, line separators, bidirectional controls
    and lone surrogates escaped (``\\n``, ``\\t``, ``\\r``, ``\\x1b``, ``\\x85``, ``\\u202e``,
    ``\\udcff``); other characters, backslashes included, are kept."""
    return _UNSAFE.sub(_escape, str(text))
