"""Ending the process for good when it cannot go on: out of memory, or a shutdown that hangs.

A process that hits MemoryError is not trustworthy any more (a thread may have died half-way, locks
may be held), and a hung one is never restarted. So the first MemoryError anywhere ends it at once
with one last line on stderr and a non-zero exit, and the container or unit restarts it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import TracebackType

EXIT_OUT_OF_MEMORY = 3
# Written without allocating much: formatting may itself fail when memory is gone.
_LAST_LINE = b"extend-exporter: FATAL out of memory (MemoryError); exiting to be restarted\n"


def out_of_memory(where: str = "") -> None:
    """Write the last line and leave now (no cleanup: it could allocate, block or deadlock)."""
    try:
        line = (
            f"extend-exporter: FATAL out of memory (MemoryError in {where}); exiting so that it is restarted"
        )
        data = (line + "\n").encode() if where else _LAST_LINE
    except MemoryError:
        data = _LAST_LINE
    try:
        os.write(2, data)
    finally:
        os._exit(EXIT_OUT_OF_MEMORY)


def _thread_hook(args: threading.ExceptHookArgs) -> None:
    if issubclass(args.exc_type, MemoryError):
        out_of_memory(args.thread.name if args.thread is not None else "a thread")
    _previous_thread_hook(args)


def _main_hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, MemoryError):
        out_of_memory("the main thread")
    _previous_main_hook(exc_type, exc, tb)


_previous_thread_hook = threading.excepthook
_previous_main_hook = sys.excepthook


def install() -> None:
    """A MemoryError no code caught, in any thread, ends the process."""
    threading.excepthook = _thread_hook
    sys.excepthook = _main_hook


def arm_shutdown_deadline(seconds: float) -> None:
    """If the graceful shutdown is not over within `seconds`, the kernel ends the process (SIGALRM's
    default action), whatever the threads are doing: a stop can be slow, never a hang."""
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(max(1, int(seconds + 0.999)))
