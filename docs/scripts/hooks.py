"""MkDocs hook: keep `mkdocs build --strict` fatal for real broken references only.

A few docstrings hold bracketed value lists followed by another bracket (e.g. ``[1.0, 0.75]``
next to an index), which mkdocs-autorefs reads as a reference link to a target that is not a
Python name. Such a message (target not a dotted identifier) is logged at INFO instead of
WARNING; any unresolved reference to a real name still fails the strict build.
"""

import logging
import re

_IDENTIFIER = re.compile(r"^[A-Za-z_][\w.]*$")
_TARGET = re.compile(r"Could not find cross-reference target '([^']*)'")


class _NonIdentifierTargets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        match = _TARGET.search(record.getMessage())
        if match and not _IDENTIFIER.match(match.group(1)) and record.levelno == logging.WARNING:
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def on_startup(command, dirty):  # noqa: ARG001 - the signature MkDocs calls
    for module in ("plugin", "references", "backlinks"):
        logging.getLogger(f"mkdocs.plugins.mkdocs_autorefs._internal.{module}").addFilter(_NonIdentifierTargets())
