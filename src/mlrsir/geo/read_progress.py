"""Progress of reading one scene's tiles (local or remote), as lines for the user.

:class:`SceneMeter` counts the tiles a scene source has read, the MB of pixels decoded
(not bytes on the wire), tiles/s and the retries of remote reads (:mod:`mlrsir.geo.retry`),
and writes a line at most once a second and one at the end; :func:`stderr_lines` is the
usual sink.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from tqdm import tqdm

from mlrsir.geo.retry import STATS
from mlrsir.text import printable


class SceneMeter:
    """Per-scene progress: tiles read, MB of pixels decoded, tiles/s, retries (:mod:`mlrsir.geo.retry`);
    a line to ``sink`` at most once a second and one at the end."""

    def __init__(self, name: str, total: int, sink: Callable[[str], None] | None):
        self.name, self.total, self.sink, self.stats = name, total, sink, STATS
        self.start = self.last = time.perf_counter()
        self.tiles = 0
        self.bytes = 0
        self.retries0 = STATS.retries

    def tile(self, arr) -> None:
        self.tiles += 1
        self.bytes += 0 if arr is None else int(arr.nbytes)
        now = time.perf_counter()
        if self.sink is not None and now - self.last >= 1.0:
            self.last = now
            self.sink(self.line(now, "reading"))

    def line(self, now: float, what: str) -> str:
        seconds = max(now - self.start, 1e-9)
        return (
            f"scene {printable(self.name)}: {what} {self.tiles}/{self.total} tiles, "
            f"{self.bytes / 1e6:.1f} MB of pixels, {self.tiles / seconds:.1f} tiles/s, "
            f"{self.stats.retries - self.retries0} retries"
        )

    def end(self) -> None:
        if self.sink is not None and self.tiles:
            self.sink(self.line(time.perf_counter(), "read"))


def stderr_lines(text: str) -> None:
    """A progress line on stderr (through tqdm, so that a progress bar there is not cut)."""
    tqdm.write(text, file=sys.stderr)
