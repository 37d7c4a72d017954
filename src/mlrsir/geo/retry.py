"""Retries of remote raster opens and window reads: bounded, exponential, jittered.

GDAL retries a request itself (``GDAL_HTTP_MAX_RETRY`` times, on 429 and 5xx answers:
:mod:`mlrsir.geo.remote`). What it does not cover is a read that still fails: a burst of
503 longer than its retries, a connection dropped or refused (a server restarting), a
timeout. GDAL then reports a generic ``IReadBlock failed ... TIFFReadEncodedTile() failed``,
which does not tell a transient failure from a damaged file, so mlrsir retries every failed
read of a remote window, bounded:

* attempt ``k`` (``k = 1 .. attempts - 1``) waits ``uniform(0, min(cap, base * 2**(k-1)))``
  seconds ("full jitter": concurrent readers do not retry in step), then reads again;
* defaults :data:`DEFAULT_ATTEMPTS` = 4 attempts, ``base`` 0.5 s, ``cap`` 8 s: at most
  0.5 + 1 + 2 = 3.5 s of waiting per window before the error is raised (and the scene is
  named and skipped; its tiles already stored stay, a re-run reads the rest);
* an open is retried the same way, except answers that will not change: HTTP 403 / 404,
  a missing S3 key or bucket, credentials refused (:func:`permanent`).

Environment: ``MLRSIR_REMOTE_ATTEMPTS`` (1 = no retry), ``MLRSIR_REMOTE_BACKOFF`` (``base``,
seconds), ``MLRSIR_REMOTE_BACKOFF_CAP`` (``cap``). :data:`STATS` counts retries in this
process (the ingest's progress lines report them).
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from mlrsir.errors import ConfigError

T = TypeVar("T")

DEFAULT_ATTEMPTS = 4
DEFAULT_BASE_S = 0.5
DEFAULT_CAP_S = 8.0

_PERMANENT = re.compile(
    r"HTTP response code: (40[0-4]|410)|\(HTTP 40[34]\)|key does not exist|bucket does not exist|"
    r"InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|access key id|credential|"
    r"not recognized as being in a supported file format",
    re.I,
)


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` (>= 1) tries in all; the wait before try ``k + 1`` is
    ``uniform(0, min(cap_s, base_s * 2**(k - 1)))`` seconds (module doc)."""

    attempts: int = DEFAULT_ATTEMPTS
    base_s: float = DEFAULT_BASE_S
    cap_s: float = DEFAULT_CAP_S

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based), in ``[0, min(cap, base * 2**(retry-1))]``."""
        bound = min(self.cap_s, self.base_s * 2 ** (int(retry) - 1))
        return (rng or random).uniform(0.0, bound)

    @property
    def max_wait_s(self) -> float:
        """The longest total wait of one call (every jitter at its bound)."""
        return sum(min(self.cap_s, self.base_s * 2**k) for k in range(self.attempts - 1))


def _number(name: str, default: float, low: float) -> float:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r}: expected a number") from None
    if value < low:
        raise ConfigError(f"{name}={text!r}: must be >= {low:g}")
    return value


def retry_policy() -> RetryPolicy:
    """The policy of this process: the defaults, or the environment's (module doc)."""
    return RetryPolicy(
        attempts=int(_number("MLRSIR_REMOTE_ATTEMPTS", DEFAULT_ATTEMPTS, 1)),
        base_s=_number("MLRSIR_REMOTE_BACKOFF", DEFAULT_BASE_S, 0),
        cap_s=_number("MLRSIR_REMOTE_BACKOFF_CAP", DEFAULT_CAP_S, 0),
    )


def permanent(message: str) -> bool:
    """True for failures a retry will not change (403, 404, refused credentials, not a raster)."""
    return bool(_PERMANENT.search(str(message)))


class RetryStats:
    """Thread-safe count of the retries done (``retries``) and of the calls that still failed (``gave_up``)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.retries = 0
        self.gave_up = 0

    def add(self, retries: int = 0, gave_up: int = 0) -> None:
        with self._lock:
            self.retries += retries
            self.gave_up += gave_up


STATS = RetryStats()


def with_retries(
    call: Callable[[], T],
    errors: tuple[type[BaseException], ...],
    *,
    policy: RetryPolicy | None = None,
    retry_if: Callable[[BaseException], bool] = lambda exc: True,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, retried on ``errors`` for which ``retry_if`` holds, under ``policy`` (default
    :func:`retry_policy`); the last error is raised unchanged."""
    policy = policy or retry_policy()
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except errors as exc:
            if attempt >= policy.attempts or not retry_if(exc):
                STATS.add(gave_up=1)
                raise
            STATS.add(retries=1)
            sleep(policy.delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover
