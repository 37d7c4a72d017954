"""Run ``mlrsir`` in a child process with a fake encoder (tests of the ingest pipeline).

Usage: ``python -m tests.ingest.fake_cli ENCODER [--wait-for N --ready-dir DIR] -- ARGS...``
(from the repository root). ``ENCODER`` is ``pixel-hash`` (codes from the tile pixels) or
``slow`` (the quadrant FakeEncoder, each ``encode_paths`` call sleeping 2 s, so two
processes started together both check the index before either writes). With
``--wait-for N``, the child writes ``READY_DIR/<pid>`` and starts only when N such files
exist (two processes race from one start line). On exit the child prints
``peak-rss-kib <VmHWM>``: its own peak resident memory since ``exec`` (``ru_maxrss`` is
not used: Linux carries it over from the forked copy of the parent).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    import mlrsir.inference.encoder as encoder_module
    from tests.fakes.encoder import FakeEncoder

    split = argv.index("--")
    own, args = argv[:split], argv[split + 1 :]
    kind = own[0]
    if kind == "pixel-hash":
        from tests.geo.test_index_scenes import PixelHashEncoder

        encoder_module.load_encoder = PixelHashEncoder
    elif kind == "slow":

        class SlowEncoder(FakeEncoder):
            def encode_paths(self, *a, **kw):
                time.sleep(2.0)
                return super().encode_paths(*a, **kw)

        encoder_module.load_encoder = SlowEncoder
    else:
        raise SystemExit(f"unknown encoder {kind}")
    if "--wait-for" in own:
        wanted = int(own[own.index("--wait-for") + 1])
        ready = Path(own[own.index("--ready-dir") + 1])
        (ready / str(os.getpid())).write_text("")
        deadline = time.monotonic() + 120
        while len(list(ready.iterdir())) < wanted and time.monotonic() < deadline:
            time.sleep(0.01)
    from mlrsir.cli.main import main as cli_main

    try:
        return cli_main(args)
    finally:
        status = Path("/proc/self/status").read_text().splitlines()
        peak = next((line.split()[1] for line in status if line.startswith("VmHWM")), "0")
        print(f"peak-rss-kib {peak}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
