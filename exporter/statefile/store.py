"""The state file: counters, ledgers and sync positions that survive a restart.

Written atomically (temporary file in the same directory, fsync, rename, fsync of the directory),
so a crash leaves either the old or the new file, never a torn one (temporary files a crash left
behind are removed at the next start). A file that cannot be read or belongs to another version
gives one warning and a fresh start, and is first kept aside (renamed `<name>.bad-<UTC time>`). A path
that cannot hold the file at start-up (its directory missing or read-only, the path a directory) is a
bad setting (`StateUnusableError`); a write that fails later gives one warning (not one per sync: the
`extend_exporter_state_write_failures_total` counter counts them) and the exporter keeps running
from memory; a write that works again is logged once.

One writer per file: `lock()` takes an exclusive `flock` on `<name>.lock` beside it (holding the
holder's pid, host and start time), so a second exporter on the same file stops at start-up instead
of overwriting the first one's counts. A state path that is a symlink is followed: the target is
written (and locked).

One section per workspace (`workspaces: {id: {kinds: {...}}}`; a workspace polled without an ID has
the unnamed section). Sections of workspaces this exporter does not poll, and kinds of a section it
does not sync, are written back untouched, so a workspace or kind left out of the settings for a
while continues where it was when it comes back. A file written before there were sections is one
unnamed section (upgrade.py); the first workspace configured takes over the unnamed section when it
has none of its own, so today's single-workspace file continues under `EXTEND_WORKSPACE_ID`. A section
also holds its workspace's batch tracker (`batches`; a section without one starts batches afresh).
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from ..engine.kind_state import KindState
from .upgrade import UNNAMED_SECTION, VERSION, upgrade_file, upgrade_kind

log = logging.getLogger("exporter.state")  # the name log lines carried before the module moved

FORMAT = "extend-exporter-state"
__all__ = ["FORMAT", "VERSION", "StateLockedError", "StateStore"]


class StateFileError(Exception):
    """The state file cannot be used at start-up: a bad setting, the message says why."""


class StateLockedError(StateFileError):
    """Another process holds the state file's lock; the message names the holder."""


class StateUnusableError(StateFileError):
    """The path cannot hold the state file: its directory is missing or read-only, or it is a directory."""


class StateStore:
    def __init__(self, path: Path, *, base_url: str, api_version: str) -> None:
        # A symlink (e.g. onto a volume) is followed: the rename then replaces the target, not the link.
        self.path = Path(os.path.realpath(path))
        self._lock_fd: int | None = None
        # The sections as read: what this exporter does not poll or sync is written back from here.
        self._read: dict[str, dict[str, Any]] = {}
        # A state file only continues the counts of the same API endpoint and version.
        self._scope = {"base_url": base_url, "api_version": api_version}
        self.write_failures = 0
        self._failures_logged = 0  # write_failures when the last outage ended

    def _temp_prefix(self) -> str:
        return f".{self.path.name}."

    def _remove_stale_temps(self) -> None:
        """Temporary files of writes a crash (kill -9, power loss) interrupted; only ours, by name."""
        try:
            leftovers = [
                p
                for p in self.path.parent.iterdir()
                if p.name.startswith(self._temp_prefix()) and p.name.endswith(".tmp")
            ]
        except OSError:
            return
        for leftover in leftovers:
            try:
                leftover.unlink()
            except OSError:
                continue
            log.debug("removed %s, left by an interrupted state write", leftover)

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def check_writable(self) -> None:
        """Raise StateUnusableError unless a state file can be written at the path now (a probe file is
        made and removed beside it: permission bits say nothing about read-only mounts or root)."""
        directory = self.path.parent
        if self.path.is_dir():
            raise StateUnusableError(
                f"{self.path} is a directory; name a file in it, e.g. {self.path}/state.json"
            )
        if not directory.is_dir():
            what = "is not a directory" if directory.exists() else "does not exist"
            raise StateUnusableError(f"the directory {directory} {what}")
        try:
            fd, probe = tempfile.mkstemp(prefix=self._temp_prefix(), suffix=".tmp", dir=directory)
        except OSError as exc:
            raise StateUnusableError(f"cannot write in {directory}: {exc.strerror}") from None
        os.close(fd)
        os.unlink(probe)

    def lock(self) -> None:
        """Check the path is writable (StateUnusableError), then become the file's only writer, or raise
        StateLockedError naming the one that is.

        The lock lives as long as the process (the kernel drops it at exit, even at kill -9).
        """
        self.check_writable()
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            log.debug("state file %s not locked (%s)", self.path, exc.strerror)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "unknown process"
            os.close(fd)
            raise StateLockedError(f"{self.path} is in use by another exporter ({holder})") from None
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        identity = f"pid {os.getpid()} on {socket.gethostname()}, since {started}\n".encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, identity, 0)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def _keep_aside(self) -> str:
        """Rename an unusable file out of the way so starting fresh loses nothing; where it went."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = self.path.with_name(f"{self.path.name}.bad-{stamp}")
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            return f"not kept aside: {exc.strerror}"
        return f"kept as {aside.name}"

    def load(self, workspaces: Mapping[str, Mapping[str, KindState]]) -> bool:
        """Restore each workspace's section (by section key, in configured order) into its kinds'
        states; False (with a warning) for a fresh start. Nothing is touched unless all of it reads."""
        self._remove_stale_temps()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("state file %s unreadable (%s); starting fresh", self.path, exc.strerror)
            return False
        try:
            sections = self._sections(orjson.loads(raw))
            adopted = _adopt_unnamed(sections, list(workspaces))
            restored: list[tuple[KindState, Mapping[str, Any]]] = []
            for key, states in workspaces.items():
                kinds = sections.get(key, {}).get("kinds", {})
                for kind, live in states.items():
                    if kind in kinds:
                        restored.append((live, upgrade_kind(kinds[kind])))  # older files spell OTHER apart
            for live, kind_data in restored:
                probe = KindState(live.spec, live.resource_labels, live.usage_tags)
                probe.load_dict(kind_data)  # validate everything before touching the live states
            for live, kind_data in restored:
                live.load_dict(kind_data)
            self._read = sections
        except (ValueError, KeyError, TypeError, IndexError, orjson.JSONDecodeError) as exc:
            log.warning("state file %s ignored (%s); %s; starting fresh", self.path, exc, self._keep_aside())
            return False
        if adopted is not None:
            log.info(
                "state file %s is from an exporter of one unnamed workspace: its counts continue as "
                "workspace %s's (the first of EXTEND_WORKSPACE_ID)",
                self.path,
                adopted,
            )
        polled = sum(1 for key in workspaces if key in sections)
        log.info("state restored from %s (%d workspace(s), %d kinds)", self.path, polled, len(restored))
        return True

    def _sections(self, data: Any) -> dict[str, dict[str, Any]]:
        """The workspace sections of a parsed file, brought to this version; ValueError if unusable."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not an extend-exporter state file")
        data = upgrade_file(data)
        if data.get("version") != VERSION:
            raise ValueError(f"state version {data.get('version')!r}, this exporter reads {VERSION}")
        if data.get("scope") != self._scope:
            raise ValueError("written for another API base URL or version")
        sections = data["workspaces"]
        if not isinstance(sections, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("kinds"), dict) for v in sections.values()
        ):
            raise ValueError("'workspaces' is not a mapping of sections with kinds")
        return dict(sections)

    def batches(self, key: str) -> dict[str, Any] | None:
        """The batches of section `key` as `load` read them (None: none kept)."""
        batches = self._read.get(key, {}).get("batches")
        return batches if isinstance(batches, dict) else None

    def save(
        self,
        workspaces: Mapping[str, Mapping[str, dict[str, Any]]],
        batches: Mapping[str, dict[str, Any]] | None = None,
    ) -> bool:
        """Write each workspace's kinds (`KindState.to_dict()` output, by section key) and batches
        (`BatchTracker.to_dict()`, by section key) atomically."""
        sections = dict(self._read)
        for key, kinds in workspaces.items():
            read = sections.get(key, {})
            sections[key] = {**read, "kinds": {**read.get("kinds", {}), **kinds}}
            if batches is not None and key in batches:
                sections[key]["batches"] = batches[key]
        payload = {"format": FORMAT, "version": VERSION, "scope": self._scope, "workspaces": sections}
        data = orjson.dumps(payload)
        directory = self.path.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=self._temp_prefix(), suffix=".tmp", dir=directory)
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
            # Once per outage: a read-only volume would otherwise log a warning every sync of every kind.
            level = logging.WARNING if self.write_failures - self._failures_logged == 1 else logging.DEBUG
            log.log(level, "state file %s not written (%s); counts stay in memory", self.path, exc.strerror)
            return False
        if self.write_failures > self._failures_logged:
            log.info("state file %s written again", self.path)
            self._failures_logged = self.write_failures
        return True


def _adopt_unnamed(sections: dict[str, dict[str, Any]], configured: list[str]) -> str | None:
    """Give the unnamed section (a file from before sections, or a workspace key's) to the first
    configured workspace when it is named and has no section of its own; the one adopting, if any."""
    first = configured[0] if configured else UNNAMED_SECTION
    if first == UNNAMED_SECTION or first in sections or UNNAMED_SECTION not in sections:
        return None
    sections[first] = sections.pop(UNNAMED_SECTION)
    return first
