"""Small hardening fixes of issue 10, item 7: a closed output pipe and the pickle refusal message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlrsir.errors import ConfigError
from mlrsir.run.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]


def test_closed_pipe_exits_quietly(tmp_path):
    """``mlrsir ... | head -1``: the reader goes away; no BrokenPipeError traceback."""
    code = (
        "import sys; from mlrsir.cli import main as m\n"
        "def fake(args):\n"
        "    for i in range(200000): print('line', i)\n"
        "    return 0\n"
        "p = m.build_parser; m.build_parser = lambda: (lambda q: (q.set_defaults(func=fake), q)[1])(p())\n"
        "sys.exit(m.main([]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.readline()
    proc.stdout.close()  # like `head -1` exiting
    err = proc.stderr.read().decode()
    rc = proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert rc in (0, 141), rc


def test_pickle_refusal_never_advises_weights_only_false(tmp_path):
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    (folder / "state.json").write_text(json.dumps({"step": 1}))
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"state": Evil()}, folder / "optimizer.pt")
    with pytest.raises(ConfigError) as raised:
        load_checkpoint(folder)
    message = str(raised.value)
    assert "optimizer.pt: refused to load" in message
    assert "weights_only=False" not in message and "weights_only = False" not in message
    assert "not a plain tensor checkpoint" in message
    assert not marker.exists()
