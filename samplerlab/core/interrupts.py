"""Ctrl-C, a sampler's time limit and its progress line, for the command line (Unix signals).

* :func:`handling_ctrl_c` installs a SIGINT handler that records the signal and raises
  ``KeyboardInterrupt`` once. Further Ctrl-Cs while the command stops are recorded and ignored, so
  that cleanup (the store's flush, the Dask cluster's shutdown, bounded to seconds) is not cut
  short and prints no traceback; a third ends the process at once (exit 130). Off the main
  thread (where signals never arrive) both context managers do nothing.
  :func:`ctrl_c_pressed` tells a real Ctrl-C from a sampler's own ``raise KeyboardInterrupt``
  (without the handler, as in a library or pytest, every ``KeyboardInterrupt`` counts as real).
* :func:`watching_samplers` ticks ``SIGALRM`` (``signal.setitimer``, main thread) while the
  audit runs. While a sampler's run is on the stack it prints, after ``PROGRESS_AFTER`` seconds,
  a line such as ``'dps' on scenario 'grid_d80_m2': sampler running, 12 s`` on stderr, and past
  ``timeout`` seconds raises :class:`SamplerTimeout` inside the run, which the audit turns into a
  :class:`~samplerlab.errors.SamplerError` naming the sampler and the limit. Nothing is killed:
  the exception unwinds the sampler's Python frames, so torch stays usable.

Example:
    >>> with handling_ctrl_c():
    ...     ctrl_c_pressed()
    False
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator

__all__ = ["handling_ctrl_c", "ctrl_c_pressed", "watching_samplers", "SamplerTimeout", "PROGRESS_AFTER",
           "EXIT_INTERRUPTED"]

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C
PROGRESS_AFTER = 5.0  # seconds of one sampler run before its progress line
_TICK = 0.25  # seconds between two looks at the stack (a time limit is met to within this)


class _State:
    installed = False
    presses = 0


def _on_sigint(signum, frame) -> None:
    _State.presses += 1
    if _State.presses == 1:
        raise KeyboardInterrupt
    if _State.presses >= 3:  # the cleanup hangs: stop now
        os._exit(EXIT_INTERRUPTED)


@contextmanager
def handling_ctrl_c(ends_process: bool = False) -> Iterator[None]:
    """Within the block, Ctrl-C raises ``KeyboardInterrupt`` once and is recorded (see the module doc).
    After a Ctrl-C the handler stays; with ``ends_process`` (the command's own process, which exits
    next) later Ctrl-Cs are ignored instead, also while the interpreter shuts down."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    before = signal.signal(signal.SIGINT, _on_sigint)
    _State.installed, _State.presses = True, 0
    try:
        yield
    finally:
        if not _State.presses:
            signal.signal(signal.SIGINT, before)
            _State.installed = False
        elif ends_process:  # Python's shutdown resets a handler to the default (death by SIGINT), not SIG_IGN
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def ctrl_c_pressed() -> bool:
    """Whether a ``KeyboardInterrupt`` now is a real Ctrl-C (always, where :func:`handling_ctrl_c` is not active)."""
    return not _State.installed or _State.presses > 0


class SamplerTimeout(BaseException):
    """A sampler's run passed its time limit (a ``BaseException``: a sampler's ``except Exception`` keeps none)."""

    def __init__(self, seconds: float):
        super().__init__(f"no result after {seconds:g} s (--timeout)")
        self.seconds = seconds


def _sampler_frame(frame):
    """The innermost frame of :func:`samplerlab.auditing.audit._run` (a sampler's guarded run) on the stack, or None."""
    run = getattr(sys.modules.get("samplerlab.auditing.audit"), "_run", None)  # no import here: a tick may fall in one
    while run is not None and frame is not None and frame.f_code is not run.__code__:
        frame = frame.f_back
    return frame if run is not None else None


@contextmanager
def watching_samplers(timeout: float | None = None, progress: bool = False) -> Iterator[None]:
    """Within the block, each sampler run prints a progress line (with ``progress``) and stops past
    ``timeout`` seconds (see the module doc); without either nothing is installed."""
    if (not timeout and not progress) or threading.current_thread() is not threading.main_thread():
        yield
        return
    shown = {"run": None, "at": 0.0, "stopped": None}  # run (its start time) last shown, when; run stopped
    tty = sys.stderr.isatty()

    def tick(signum, frame) -> None:
        run = _sampler_frame(frame)
        start = run.f_locals.get("start") if run is not None else None  # _run's perf_counter() at the call
        if shown["run"] is not None and shown["run"] != start and tty:
            print(file=sys.stderr, flush=True)  # end the \r line of a run that finished
        if shown["run"] != start:
            shown.update(run=None, at=0.0)
        if not isinstance(start, float):
            return
        elapsed = time.perf_counter() - start
        if timeout and elapsed > timeout and shown["stopped"] != start:
            shown["stopped"] = start  # raised once: the audit's handling of it is not interrupted again
            raise SamplerTimeout(timeout)
        if progress and elapsed >= PROGRESS_AFTER and elapsed - shown["at"] >= PROGRESS_AFTER:
            shown.update(run=start, at=elapsed)
            line = f"{run.f_locals.get('name')!r} on {run.f_locals.get('where')}: sampler running, {elapsed:.0f} s"
            print(f"\r{line}" if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    before = signal.signal(signal.SIGALRM, tick)
    signal.setitimer(signal.ITIMER_REAL, _TICK, _TICK)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
