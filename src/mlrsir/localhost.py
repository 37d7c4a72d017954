"""Loopback helpers shared by the data-parallel launcher, the benchmarks and the tests."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).

    Returns:
        int in [1024, 65535] chosen by the kernel; another process may take it before the
        caller binds it, so callers start their server right away.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
