"""The one /proc/PID/status reader and the one free_port."""

from __future__ import annotations

import socket

import numpy as np

from mlrsir.bench import process_memory
from mlrsir.localhost import free_port


def test_status_mib_parses_kb_into_mib(tmp_path, monkeypatch):
    status = tmp_path / "123" / "status"
    status.parent.mkdir()
    status.write_text("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1536 kB\nRssAnon:\t512 kB\n")
    real_path = process_memory.Path
    monkeypatch.setattr(process_memory, "Path", lambda p: real_path(str(p).replace("/proc", str(tmp_path))))
    assert process_memory.status_mib(123) == {"VmHWM": 2.0, "VmRSS": 1.5, "RssAnon": 0.5}
    assert process_memory.rss_mib(123) == 1.5 and process_memory.peak_rss_mib(123) == 2.0
    assert process_memory.proc_status_mib(123, "RssFile") is None  # absent key
    assert process_memory.rss_mib(999) is None and process_memory.rss_mib(None) is None  # no such process


def test_own_memory_grows_with_an_allocation():
    before = process_memory.rss_mib()
    block = np.ones(64 * 2**20 // 8)  # 64 MiB touched
    after = process_memory.rss_mib()
    assert before is not None and after is not None and after - before > 32
    assert process_memory.peak_rss_mib() >= after
    del block


def test_free_port_can_be_bound_on_loopback():
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
