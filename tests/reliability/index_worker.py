"""Subprocess entry point of the kill test: ``mlrsir ...`` with the fake encoder.

Usage: ``python -m tests.reliability.index_worker [--slow-commit SECONDS] -- mlrsir-args...``

``mlrsir.inference.encoder.load_encoder`` is replaced by ``tests.fakes.encoder.FakeEncoder``
(12-bit quadrant codes, no torch), so ``index add`` runs in a fresh process in well under a
second. ``--slow-commit S`` makes every row checksum inside an ``add`` transaction sleep
``S`` seconds, which widens the window in which a SIGKILL lands *inside* an open SQLite
write transaction (the case the test is about). Prints ``READY`` once imports are done.
"""

from __future__ import annotations

import sys
import time


def main(argv: list[str]) -> int:
    slow = 0.0
    if argv[:1] == ["--slow-commit"]:
        slow, argv = float(argv[1]), argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    import types

    import mlrsir.index.store  # noqa: F401  (imports torch via mlrsir.codes: before READY)
    import mlrsir.inference
    from mlrsir.cli.main import main as mlrsir_main
    from mlrsir.index import integrity
    from tests.fakes.encoder import FakeEncoder

    # a stand-in module, so that torch (3 s to import) is never loaded in the worker
    encoder_module = types.ModuleType("mlrsir.inference.encoder")
    encoder_module.load_encoder = FakeEncoder
    sys.modules["mlrsir.inference.encoder"] = encoder_module
    mlrsir.inference.encoder = encoder_module  # what `import mlrsir.inference.encoder` resolves to
    if slow > 0:
        real_digest = integrity.row_digest

        def slow_digest(*args):
            time.sleep(slow)
            return real_digest(*args)

        integrity.row_digest = slow_digest
    print("READY", flush=True)
    return mlrsir_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
