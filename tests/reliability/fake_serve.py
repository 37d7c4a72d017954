"""``python -m tests.reliability.fake_serve serve --index IX ...``: the real ``mlrsir serve``
command with the encoder replaced by :class:`tests.fakes.encoder.FakeEncoder` (for tests
that need a server process, e.g. memory measurements)."""

from __future__ import annotations

import sys

import mlrsir.web.app as web_app
from mlrsir.cli.main import main
from tests.fakes.encoder import FakeEncoder
from tests.web.conftest import VOCAB

if __name__ == "__main__":
    web_app._load_encoder = lambda run_dir, *args, **kwargs: FakeEncoder(run_dir=run_dir, classes=VOCAB)
    sys.exit(main(sys.argv[1:]))
