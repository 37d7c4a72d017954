"""Importing the CLI entry point loads no heavy package: subcommands import their modules when they run."""

import subprocess
import sys


def test_cli_main_import_loads_no_torch_rasterio_or_faiss() -> None:
    code = "import sys, mlrsir.cli.main; print(','.join(m for m in ('torch', 'rasterio', 'faiss') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
