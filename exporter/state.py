"""The state file: counters, ledgers and sync positions that survive a restart.

Written atomically (temporary file in the same directory, fsync, rename, fsync of the directory),
so a crash leaves either the old or the new file, never a torn one. A file that cannot be read or
belongs to another version gives one warning and a fresh start; an unwritable path gives a warning
per failure and the exporter keeps running from memory.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from .engine import KindState

log = logging.getLogger(__name__)

FORMAT = "extend-exporter-state"
VERSION = 1


class StateStore:
    def __init__(self, path: Path, *, base_url: str, api_version: str) -> None:
        self.path = path
        # A state file only continues the counts of the same API endpoint and version.
        self._scope = {"base_url": base_url, "api_version": api_version}
        self.write_failures = 0

    def load(self, states: Mapping[str, KindState]) -> bool:
        """Restore what the file holds into `states`; False (with a warning) for a fresh start."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("state file %s unreadable (%s); starting fresh", self.path, exc.strerror)
            return False
        try:
            data = orjson.loads(raw)
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError("not an extend-exporter state file")
            if data.get("version") != VERSION:
                raise ValueError(f"state version {data.get('version')!r}, this exporter reads {VERSION}")
            if data.get("scope") != self._scope:
                raise ValueError("written for another API base URL or version")
            kinds = data["kinds"]
            restored: dict[str, dict[str, Any]] = {}
            for name, _state in states.items():
                if name in kinds:
                    restored[name] = kinds[name]
            for name, kind_data in restored.items():
                probe = KindState(states[name].spec, states[name].resource_labels)
                probe.load_dict(kind_data)  # validate everything before touching the live states
            for name, kind_data in restored.items():
                states[name].load_dict(kind_data)
        except (ValueError, KeyError, TypeError, IndexError, orjson.JSONDecodeError) as exc:
            log.warning("state file %s ignored (%s); starting fresh", self.path, exc)
            return False
        log.info("state restored from %s (%d kinds)", self.path, len(restored))
        return True

    def save(self, kinds: Mapping[str, dict[str, Any]]) -> bool:
        """Write each kind's `KindState.to_dict()` output atomically."""
        payload = {"format": FORMAT, "version": VERSION, "scope": self._scope, "kinds": kinds}
        data = orjson.dumps(payload)
        directory = self.path.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            self.write_failures += 1
            log.warning("state file %s not written (%s); counts stay in memory", self.path, exc.strerror)
            return False
        return True
