"""Claims: how several writers of one run directory split its rows without computing one twice.

A writer that wants to compute row ``i`` first creates ``rows/<i>.claim`` (``before.claim`` for the
before-scores) holding its pid, host name, start time and a random token. The file is written
aside and hard-linked into place, which fails when the name exists, so exactly one writer holds
a live claim. The holder touches the file every ``timeout / 4`` seconds while it works and
deletes it once the row's done-marker is written.

A claim is stale, and may be broken by anyone, when its holder is gone: on the same host when its
pid is no longer alive, on any host when it has not been touched for ``timeout`` seconds.
Breaking renames the claim aside and deletes it only if it is still the stale one; a claim made
meanwhile by someone else is put back.

In an object store (a claim path that is a :class:`~forgetmap.store._location.StorePath`) there
are no hard links, renames or mtimes to set: a claim is created with the backend's conditional
write where it has one (a write and a read-back where not), carries the time it was last
touched in its content (``touched``), is kept fresh by rewriting it, and is broken by deleting
it after checking that it is still the stale one. Each of these checks and the write after it
are two requests, so two writers can, rarely, both hold a claim: a row is then computed twice,
with identical results.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from forgetmap.store._atomic import TEMP_SUFFIX
from forgetmap.store._location import StorePath

__all__ = [
    "CLAIM_SUFFIX",
    "DEFAULT_CLAIM_TIMEOUT",
    "Claims",
    "claim_is_stale",
    "pid_alive",
    "read_claim",
]

CLAIM_SUFFIX = ".claim"
DEFAULT_CLAIM_TIMEOUT = 600.0


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a zombie counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:  # Linux: a killed child not reaped yet is a zombie, not a worker
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def read_claim(path: Path | StorePath) -> tuple[dict[str, Any] | None, bytes, float] | None:
    """``(holder, raw bytes, mtime)`` of the claim at ``path``, or ``None`` when there is none.

    ``holder`` is ``None`` when the file is not a valid claim (then only its age makes it stale).
    In an object store the time is the claim's ``touched`` field, else when it was written.
    """
    try:
        if isinstance(path, StorePath):
            raw = path.read_bytes()
            mtime = None
        else:
            with open(path, "rb") as handle:
                raw = handle.read()
                mtime = os.fstat(handle.fileno()).st_mtime
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(raw)
        if not isinstance(holder, dict):
            holder = None
    except ValueError:
        holder = None
    if mtime is None:
        touched = holder.get("touched") if holder is not None else None
        if isinstance(touched, (int, float)) and not isinstance(touched, bool):
            mtime = float(touched)
        else:  # no valid claim: one object PUT is never torn, so nobody is writing it
            mtime = path.location.mtime(path.rel) or 0.0  # type: ignore[union-attr]
    return holder, raw, mtime


def claim_is_stale(
    holder: dict[str, Any] | None,
    mtime: float,
    *,
    timeout: float = DEFAULT_CLAIM_TIMEOUT,
    now: float | None = None,
    host: str | None = None,
) -> bool:
    """Whether a claim's holder is gone: dead pid on this host, or untouched for ``timeout`` s."""
    now = time.time() if now is None else now
    if now - mtime > timeout:
        return True
    if holder is None:
        return False
    host = socket.gethostname() if host is None else host
    if holder.get("host") == host:
        try:
            return not pid_alive(int(holder.get("pid", -1)))
        except (TypeError, ValueError):
            return False
    return False


class Claims:
    """The claims this process holds in one run directory, kept fresh by a background thread.

    Use as a context manager; on exit every claim still held is released.
    """

    def __init__(self, timeout: float = DEFAULT_CLAIM_TIMEOUT) -> None:
        self.timeout = float(timeout)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._held: dict[Path | StorePath, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Claims:
        self._stop.clear()
        self._thread = threading.Thread(target=self._refresh, name="forgetmap-claims", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for path in list(self._held):
            self.release(path)

    def acquire(self, path: Path | StorePath) -> bool:
        """Claim ``path``: True if this process holds it now, False if a live holder does."""
        path = _claim_path(path)
        for _ in range(4):
            if self._create(path):
                return True
            found = read_claim(path)
            if found is None:
                continue  # released meanwhile: try again
            holder, raw, mtime = found
            if holder is not None and holder.get("token") == self._held.get(path):
                return True
            if not claim_is_stale(holder, mtime, timeout=self.timeout, host=self.host):
                return False
            if not self._break(path, raw):
                return False
        return False

    def release(self, path: Path | StorePath) -> None:
        """Delete the claim at ``path`` if it is still this process's."""
        path = _claim_path(path)
        with self._lock:
            token = self._held.pop(path, None)
        if token is None:
            return
        found = read_claim(path)
        if found is not None and found[0] is not None and found[0].get("token") == token:
            if isinstance(path, StorePath):
                path.location.remove(path.rel)
            else:
                path.unlink(missing_ok=True)

    def holder(self, path: Path | StorePath) -> dict[str, Any] | None:
        """Who holds the claim at ``path`` (pid, host, time), or ``None``."""
        found = read_claim(_claim_path(path))
        return None if found is None else found[0]

    # ------------------------------------------------------------------ internals
    def _create(self, path: Path | StorePath) -> bool:
        token = secrets.token_hex(8)
        document = {
            "pid": self.pid,
            "host": self.host,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "token": token,
        }
        if isinstance(path, StorePath):
            document["touched"] = time.time()
            if not path.location.create_exclusive(path.rel, json.dumps(document).encode()):
                return False
            with self._lock:
                self._held[path] = token
            return True
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(document, handle)
            os.link(temp, path)  # atomic, and fails when a claim exists (also on NFS)
        except FileExistsError:
            return False
        finally:
            os.unlink(temp)
        with self._lock:
            self._held[path] = token
        return True

    def _break(self, path: Path | StorePath, stale: bytes) -> bool:
        """Remove the stale claim ``stale`` at ``path``; False if a live one took its place."""
        if isinstance(path, StorePath):
            found = read_claim(path)
            if found is None:
                return True
            if found[1] != stale:
                return False  # taken meanwhile by a live writer
            path.location.remove(path.rel)
            return True
        aside = path.with_name(f".{path.name}.{secrets.token_hex(6)}.stale")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return True
        try:
            if aside.read_bytes() == stale:
                return True
            # we moved a claim made meanwhile: put it back (unless yet another exists)
            with contextlib.suppress(FileExistsError):
                os.link(aside, path)
            return False
        finally:
            aside.unlink(missing_ok=True)

    def _refresh(self) -> None:
        interval = max(0.5, min(self.timeout / 4, 60.0))
        while not self._stop.wait(interval):
            with self._lock:
                held = list(self._held.items())
            for path, token in held:
                found = read_claim(path)
                if found is None or found[0] is None or found[0].get("token") != token:
                    continue  # broken by someone else; nothing to keep fresh
                with contextlib.suppress(OSError):
                    if isinstance(path, StorePath):
                        document = {**found[0], "touched": time.time()}
                        path.location.write_bytes(path.rel, json.dumps(document).encode())
                    else:
                        os.utime(path)


def _claim_path(path: Path | StorePath | str) -> Path | StorePath:
    return path if isinstance(path, StorePath) else Path(path)
