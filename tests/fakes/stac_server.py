"""A real STAC API on loopback: rustac's server (``rustac serve``, the Rust stac-server with its
in-memory backend), loaded with a collection and its items, started and stopped by the tests.

``rustac`` is one self-contained wheel (pip, no database, no compiler), its server starts in
well under a second, and it implements STAC API core, collections, features and item search
with ``next``-link paging: a real server, not a fake. Its memory backend implements no Query
or Filter extension (and says so in ``conformsTo``), so ``eo:cloud_cover`` is checked on the
client, as the code must do for any such API.

:class:`StacApiServer` writes ``collection.json`` and ``items.json`` (an ItemCollection) into a
folder, runs ``rustac serve`` on ``127.0.0.1:PORT`` and waits for the landing page (at most
:data:`START_TIMEOUT` s). :func:`rustac_executable` is None when the package is not installed.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

START_TIMEOUT = 15.0


def rustac_executable() -> str | None:
    """The ``rustac`` command of this Python environment (or on PATH), or None."""
    beside = Path(sys.executable).parent / "rustac"
    if beside.is_file():
        return str(beside)
    return shutil.which("rustac")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def collection_dict(collection_id: str, bbox=(-180.0, -90.0, 180.0, 90.0)) -> dict:
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": collection_id,
        "description": f"test collection {collection_id}",
        "license": "proprietary",
        "extent": {"spatial": {"bbox": [list(bbox)]}, "temporal": {"interval": [[None, None]]}},
        "links": [],
    }


class StacApiServer:
    """``with StacApiServer(folder, collections, items) as api: api.url`` (module doc)."""

    def __init__(self, folder: Path, collections: list[dict], items: list[dict]):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.hrefs = []
        for c in collections:
            path = self.folder / f"collection-{c['id']}.json"
            path.write_text(json.dumps(c))
            self.hrefs.append(str(path))
        items_path = self.folder / "items.json"
        items_path.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
        self.hrefs.append(str(items_path))
        self.log = self.folder / "rustac-serve.log"
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> StacApiServer:
        exe = rustac_executable()
        if exe is None:
            raise RuntimeError("rustac is not installed (pip install 'mlrsir[stac]')")
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(
                [exe, "serve", "--addr", f"127.0.0.1:{self.port}", *self.hrefs],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"rustac serve did not start on {self.url}: {self.log.read_text(errors='replace')[-500:]}")

    def __exit__(self, *exc) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None
