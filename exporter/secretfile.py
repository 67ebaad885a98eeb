"""A secret kept in a file (a Kubernetes Secret mount), re-read whenever the file changes.

The API key (api/apikey.py) and the webhook signing secrets (webhooks/secrets.py) come this way: read
once at start-up, so a bad file fails fast, then again whenever the file's stat stamp (mtime, size,
inode) moves. A changed file that cannot be used keeps the previous value, with a warning that names
the problem but never the contents.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class WatchedFile(Generic[T]):
    def __init__(
        self,
        path: Path,
        read: Callable[[Path], T],
        *,
        what: str,
        log: logging.Logger,
        errors: tuple[type[Exception], ...],
    ) -> None:
        """`read` parses the file and raises one of `errors` (messages without the secret) when unusable;
        `what` names the file in log lines ("API key file")."""
        self.path = path
        self._read = read
        self._what = what
        self._log = log
        self._errors = errors
        self._lock = threading.Lock()
        self.value: T = read(path)  # fail fast at start-up
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> T:
        """The value, re-read first when the file changed since the last read."""
        with self._lock:
            stamp = self._file_stamp()
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self.value = self._read(self.path)
                    self._log.info("%s %s changed; using the new value", self._what, self.path)
                except self._errors as exc:
                    self._log.warning(
                        "%s changed but unusable (%s); keeping the previous value", self._what, exc
                    )
            return self.value
