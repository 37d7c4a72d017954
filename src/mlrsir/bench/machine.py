"""What a benchmark records about the machine it ran on, and how reports state it.

Timings on a shared machine mean little without the load beside them, so every benchmark
stores the load average when it starts (and ends) and its report prints them in one form.
"""

from __future__ import annotations

import os


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, ``[l1, l5, l15]`` (runnable processes, >= 0)."""
    return [float(x) for x in os.getloadavg()]


def load_sentence(start: list[float], end: list[float] | None = None) -> str:
    """``"Load average (1, 5, 15 min) at start 1.0, 0.9, 0.8[, at end ...]"`` (no final stop)."""
    text = f"Load average (1, 5, 15 min) at start {', '.join(f'{x:.1f}' for x in start)}"
    if end is not None:
        text += f", at end {', '.join(f'{x:.1f}' for x in end)}"
    return text


def report_header(title: str, config: dict, note: str) -> list[str]:
    """The first lines of a benchmark's Markdown report.

    Args:
        title: the heading, without ``#``; the CPU cores and faiss threads of ``config``
            (``cpu_count``, ``threads``) are appended.
        config: the run's config with ``load_average`` (and ``load_average_end`` when known).
        note: sentences on how to read the figures, after the load average.

    Returns:
        ``["# title, N CPU cores, T faiss threads", "", "Load average ... . note", ""]``.
    """
    heading = f"# {title}, {config['cpu_count']} CPU cores, {config['threads']} faiss threads"
    load = load_sentence(config["load_average"], config.get("load_average_end"))
    return [heading, "", f"{load} (other processes share the machine). {note}", ""]
