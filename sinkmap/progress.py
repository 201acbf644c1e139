"""How far long work is: a progress bar in a terminal, periodic lines in a job's log.

Downloads count bytes, layer writes count chunks (:func:`sinkmap.io.write_layers`, through
:func:`sinkmap.io.chunk_progress`, and :func:`sinkmap.io.write_tiles`), calibration counts plots. When standard error is a terminal (``sinkmap fetch``, ``sinkmap stock``,
``sinkmap calibrate`` run by hand) a tqdm bar shows the count; otherwise (a workflow job, whose
standard error is its log file) a line ``<what>: <done> of <total> <unit> (<p> %)`` is logged at
most every :data:`ENV_INTERVAL` seconds (default 10) and when the work ends, so a user watching
``logs/`` sees how far a long job is. ``SINKMAP_PROGRESS=0`` turns both off.

Without Dask: a job that only downloads starts without it (the dask callback is in
:mod:`sinkmap.io`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any

log = logging.getLogger("sinkmap")

ENV_PROGRESS = "SINKMAP_PROGRESS"
ENV_INTERVAL = "SINKMAP_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 10.0


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get(ENV_INTERVAL, DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def _on() -> bool:
    return os.environ.get(ENV_PROGRESS, "1").strip().lower() not in ("0", "false", "no", "off")


def _bytes(n: float) -> str:
    for step, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= step:
            return f"{n / step:,.1f} {name}"
    return f"{int(n):,} bytes"


class Progress:
    """A count of ``unit`` towards ``total`` (None when unknown), shown as a bar or logged.

    Thread-safe: :meth:`update` may be called from the threads of a dask scheduler.
    ``bar``: None chooses a bar when standard error is a terminal.
    """

    def __init__(
        self,
        what: str,
        total: int | None,
        unit: str,
        *,
        bar: bool | None = None,
        interval: float | None = None,
    ) -> None:
        self.what, self.total, self.unit = what, total, unit
        self.done = 0
        self.enabled = _on()
        self.interval = _interval() if interval is None else interval
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._bar: Any = None
        if self.enabled and (sys.stderr.isatty() if bar is None else bar):
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                desc=what if len(what) <= 32 else f"{what[:31]}…",  # the bar keeps its width
                unit="B" if unit == "bytes" else f" {unit}",
                unit_scale=unit == "bytes",
                unit_divisor=1024 if unit == "bytes" else 1000,
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
            )

    def update(self, n: int = 1) -> None:
        if not self.enabled:
            return
        with self._lock:
            self.done += n
            if self._bar is not None:
                self._bar.update(n)
                return
            now = time.monotonic()
            if now - self._last >= self.interval and self.done != self.total:
                self._last = now
                self._log()

    def close(self) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            elif self.done:
                self._log()

    def _log(self) -> None:
        if self.unit == "bytes":
            done = _bytes(self.done)
            of = f" of {_bytes(self.total)}" if self.total else ""
        else:
            done = f"{self.done:,}"
            of = f" of {self.total:,} {self.unit}" if self.total else f" {self.unit}"
        share = f" ({int(100 * self.done / self.total)} %)" if self.total else ""
        log.info("%s: %s%s%s", self.what, done, of, share)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
