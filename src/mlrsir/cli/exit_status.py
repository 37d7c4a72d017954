"""The exit status of the commands that fill an index (``mlrsir index build|add``).

One rule for image files and scenes alike:

* :data:`EXIT_OK` (0): every input is in the index: indexed now, already present, or a
  scene whose tiles are all empty (skipped and counted).
* :data:`EXIT_PARTIAL` (3): something was indexed (or was already present) but some
  inputs failed and were skipped; the summary names them.
* :data:`EXIT_FAILED` (2): nothing could be done: every input failed, or the command
  refused its arguments (the status of every ``mlrsir: error: ...``). With ``--strict``
  the first bad input is such an error.

``mlrsir search`` keeps its own 1 for an empty answer
(:data:`mlrsir.cli.index_extras.EXIT_NOTHING_FOUND`).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 2
EXIT_PARTIAL = 3

EPILOG = (
    "exit status: 0 every input indexed (or already present; empty scene tiles skipped); "
    "3 some inputs indexed, others failed (named in the summary); "
    "2 nothing indexed (every input failed) or an error (--strict: the first bad input)"
)


def ingest_exit_status(succeeded: int, failed: int) -> int:
    """The status of a fill where ``succeeded`` inputs (or tiles) are in the index and
    ``failed`` inputs could not be indexed (module rule)."""
    if not failed:
        return EXIT_OK
    return EXIT_PARTIAL if succeeded else EXIT_FAILED
