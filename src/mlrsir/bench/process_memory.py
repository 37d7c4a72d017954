"""Resident memory of a process, read from Linux's ``/proc/PID/status`` (the one reader).

Values are in MiB (the file gives kB): ``VmRSS`` is the resident set now, ``VmHWM`` its
peak since the process started (or since :func:`reset_peak`), ``RssAnon``/``RssFile`` the
anonymous and file-backed parts of ``VmRSS``. Every reader answers None (or leaves a key
out) when the file or the key is missing (another OS, a process that has exited).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

MEMORY_KEYS = ("VmRSS", "RssAnon", "RssFile", "VmHWM")


def status_mib(pid: int | str = "self", keys: tuple[str, ...] = MEMORY_KEYS) -> dict[str, float]:
    """``{key: MiB}`` for the ``keys`` found in ``/proc/PID/status`` (``pid="self"``: this
    process); keys that are absent are left out, an unreadable file gives ``{}``."""
    out: dict[str, float] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in keys and rest.split():
            out[key] = int(rest.split()[0]) / 1024.0
    return out


def proc_status_mib(pid: int | str | None, key: str) -> float | None:
    """One ``key`` (``"VmRSS"``, ``"VmHWM"``, ...) of process ``pid`` in MiB; None when unknown."""
    if pid is None:
        return None
    return status_mib(pid, (key,)).get(key)


def rss_mib(pid: int | str | None = "self") -> float | None:
    """Resident memory (``VmRSS``) of ``pid`` in MiB; None when unknown."""
    return proc_status_mib(pid, "VmRSS")


def peak_rss_mib(pid: int | str | None = "self") -> float | None:
    """Peak resident memory (``VmHWM``) of ``pid`` in MiB; None when unknown."""
    return proc_status_mib(pid, "VmHWM")


def reset_peak(pid: int | str) -> bool:
    """Reset ``VmHWM`` of ``pid`` to its current RSS (Linux >= 4.0, ``clear_refs`` 5), so a
    peak read later is the peak of what ran after the reset; False when refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def trim_heap() -> None:
    """Hand freed heap back to the OS (glibc's ``malloc_trim``; a no-op elsewhere), so that a
    later RSS difference measures new allocations only."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
