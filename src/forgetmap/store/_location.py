"""Where a store lives: a local folder, or a prefix in an object store reached through fsspec.

A store is a handful of files addressed by keys relative to its root (``rows/000012.json``,
``matrix.zarr/forgetting/nll/c/12/0``). The two kinds of location give the store the same few
operations on those keys, with the guarantees each filesystem can give:

- :class:`LocalLocation` (a plain path or a ``file://`` URL) keeps POSIX semantics: a write goes
  to a temporary file that is fsynced and renamed over the target.
- :class:`FsspecLocation` (``s3://``, ``gs://``, ``memory://``, ... any fsspec URL) relies on one
  object PUT being atomic: a write uploads the whole object at once, so a reader sees the old
  object or the new one. There is no rename of folders, and exclusive creation exists only where
  the backend offers a conditional write (see :meth:`FsspecLocation.create_exclusive`).

:func:`store_location` turns what a user gives (a path or a URL) into one of them, refusing an
unknown protocol or one whose package is not installed in one line.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import posixpath
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from forgetmap.errors import StoreAccessError, StoreError
from forgetmap.store._atomic import atomic_write, atomic_write_bytes

__all__ = [
    "FsspecLocation",
    "LocalLocation",
    "StoreLocation",
    "StorePath",
    "file_sha256",
    "is_url",
    "store_location",
]

_PROTOCOL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_LOCAL_PROTOCOLS = ("file", "local")
#: Filesystems whose contents live inside one process: no other process (a Ray worker) sees them.
_PROCESS_LOCAL_PROTOCOLS = ("memory",)
_MTIME_KEYS = ("mtime", "LastModified", "last_modified", "updated", "created")


def is_url(target: object) -> bool:
    """Whether ``target`` is an fsspec URL (``s3://bucket/run``, ``simplecache::s3://...``)."""
    if not isinstance(target, str):
        return False
    if "::" in target and "://" in target:  # a chain such as simplecache::s3://bucket/run
        return True
    protocol, sep, _ = target.partition("://")
    return bool(sep) and bool(_PROTOCOL.match(protocol))


def _protocols(url: str) -> list[str]:
    """The protocols of each link of a (possibly chained) URL, outermost first."""
    protocols = []
    for link in url.split("::"):
        protocol, sep, _ = link.partition("://")
        if sep:
            protocols.append(protocol.lower())
        elif _PROTOCOL.match(link):  # "simplecache::s3://..." names a protocol alone
            protocols.append(link.lower())
    return protocols


def _check_protocol(url: str, protocol: str) -> None:
    """Refuse a protocol fsspec does not know, or whose package is not installed."""
    try:
        import fsspec
    except ImportError:
        raise StoreError(
            f"{url!r}: storage URLs need the package 'fsspec': pip install fsspec"
        ) from None
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        raise StoreError(
            f"{url!r}: unknown storage protocol {protocol + '://'!r}; give a local path or a URL "
            "fsspec knows (s3://, gs://, az://, file://, memory://, ...)"
        ) from None
    except ImportError as error:
        cause = error.__cause__
        missing = getattr(cause, "name", None) or str(error)
        package = missing.split(".")[0].replace("_", "-")
        raise StoreError(
            f"{url!r}: the {protocol}:// protocol needs the package {package!r}: "
            f"pip install {package}"
        ) from None


def store_location(
    target: str | os.PathLike[str] | StoreLocation,
    *,
    storage_options: dict[str, Any] | None = None,
) -> StoreLocation:
    """The location of a store given as a path, a URL or a location.

    A plain path and a ``file://`` URL are local folders (POSIX semantics); any other URL is
    reached through fsspec with ``storage_options`` (endpoint, credentials, ...) added to what
    fsspec's configuration and the environment give (``FSSPEC_S3_ENDPOINT_URL``,
    ``AWS_ACCESS_KEY_ID``, ...).

    Raises :class:`~forgetmap.errors.StoreError` for an unknown protocol or one whose package is
    not installed, naming the package to install.
    """
    if isinstance(target, (LocalLocation, FsspecLocation)):
        return target
    if not is_url(target):
        return LocalLocation(Path(target))
    url = str(target)
    protocols = _protocols(url)
    for protocol in protocols:
        _check_protocol(url, protocol)
    from fsspec.core import url_to_fs

    if len(protocols) == 1 and protocols[0] in _LOCAL_PROTOCOLS:
        return LocalLocation(Path(url_to_fs(url)[1]))
    options = dict(storage_options or {})
    try:
        fs, root = url_to_fs(url, **options)
    except (ValueError, TypeError) as error:
        raise StoreError(f"{url!r} is not a usable storage URL: {error}") from None
    root = root.rstrip("/")
    if not root or not url.rstrip("/").split("://", 1)[-1]:
        raise StoreError(f"{url!r} names no folder; give one, e.g. s3://bucket/runs/mine")
    return FsspecLocation(url.rstrip("/"), fs, root, options, protocols)


def file_sha256(path: Path) -> str | None:
    """Hex SHA-256 of a local file's bytes, or ``None`` when it does not exist."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return digest.hexdigest()


class LocalLocation:
    """A store in a local folder: the POSIX operations the store has always used."""

    process_local = False

    def __init__(self, path: Path) -> None:
        self.local_path = Path(path)

    def __repr__(self) -> str:
        return f"LocalLocation({str(self.local_path)!r})"

    @property
    def url(self) -> str:
        """The folder as given, for messages."""
        return str(self.local_path)

    def display(self, rel: str = "") -> str:
        """The file ``rel`` inside the store as a user reads it in a message."""
        return str(self.path(rel))

    def strip_root(self, text: str) -> str:
        """``text`` with the store's folder taken out of the paths it names."""
        return text.replace(str(self.local_path) + os.sep, "")

    def path(self, rel: str = "") -> Path:
        """The file ``rel`` inside the store."""
        return self.local_path / rel if rel else self.local_path

    def exists(self, rel: str = "") -> bool:
        return self.path(rel).exists()

    def is_dir(self, rel: str = "") -> bool:
        return self.path(rel).is_dir()

    def is_file(self, rel: str = "") -> bool:
        path = self.path(rel)
        return path.exists() and not path.is_dir()

    def listdir(self, rel: str = "") -> list[str]:
        """Names in folder ``rel``; ``OSError`` when it is missing or unreadable."""
        return os.listdir(self.path(rel))

    def read_bytes(self, rel: str) -> bytes:
        return self.path(rel).read_bytes()

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write ``data`` atomically (temporary file, fsync, rename)."""
        atomic_write_bytes(self.path(rel), data)

    def write_with(self, rel: str, write: Callable[[Path], None]) -> None:
        """Call ``write(temp_path)`` and rename the file into place atomically."""
        atomic_write(self.path(rel), write)

    def remove(self, rel: str) -> None:
        self.path(rel).unlink(missing_ok=True)

    def makedirs(self, rel: str = "") -> None:
        """Create folder ``rel`` inside the store (whose own folder must exist)."""
        self.path(rel).mkdir(exist_ok=True)

    def sha256(self, rel: str) -> str | None:
        """Hex SHA-256 of a file's bytes, or ``None`` when it does not exist."""
        return file_sha256(self.path(rel))

    def zarr_store(self, rel: str) -> Any:
        """What ``zarr.open_group`` opens for the folder ``rel``."""
        return str(self.path(rel))


class FsspecLocation:
    """A store under a prefix of an fsspec filesystem (an object store, or memory for tests).

    Listings and existence checks skip fsspec's listing cache, since other processes (Ray
    workers, other writers) add done-markers and claims that this process did not write.
    """

    local_path = None

    def __init__(
        self,
        url: str,
        fs: Any,
        root: str,
        storage_options: dict[str, Any],
        protocols: list[str],
    ) -> None:
        self.url = url
        self.fs = _Guarded(fs, url)
        self.root = root
        self.storage_options = storage_options
        self.protocols = protocols

    def __repr__(self) -> str:
        return f"FsspecLocation({self.url!r})"

    @property
    def process_local(self) -> bool:
        """Whether only this process sees the store (``memory://``)."""
        return any(protocol in _PROCESS_LOCAL_PROTOCOLS for protocol in self.protocols)

    def display(self, rel: str = "") -> str:
        return f"{self.url}/{rel}" if rel else self.url

    def strip_root(self, text: str) -> str:
        return text.replace(self.url + "/", "")

    def path(self, rel: str = "") -> StorePath:
        return StorePath(self, rel)

    def _full(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def _fresh(self, rel: str) -> str:
        full = self._full(rel)
        self.fs.invalidate_cache(full)
        return full

    def exists(self, rel: str = "") -> bool:
        return bool(self.fs.exists(self._fresh(rel)))

    def is_dir(self, rel: str = "") -> bool:
        return bool(self.fs.isdir(self._fresh(rel)))

    def is_file(self, rel: str = "") -> bool:
        return bool(self.fs.isfile(self._fresh(rel)))

    def listdir(self, rel: str = "") -> list[str]:
        """Names under prefix ``rel``; ``FileNotFoundError`` when nothing is there."""
        names = self.fs.ls(self._fresh(rel), detail=False)
        return [posixpath.basename(str(name).rstrip("/")) for name in names]

    def read_bytes(self, rel: str) -> bytes:
        return bytes(self.fs.cat_file(self._full(rel)))

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Upload ``data`` as one object: readers see the old object or the whole new one."""
        self.fs.pipe_file(self._full(rel), bytes(data))

    def write_with(self, rel: str, write: Callable[[Path], None]) -> None:
        """Call ``write(temp_path)`` on a local temporary file, then upload it whole."""
        with tempfile.TemporaryDirectory(prefix="forgetmap-") as folder:
            temp = Path(folder) / posixpath.basename(rel)
            write(temp)
            self.fs.put_file(str(temp), self._full(rel))

    def remove(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._full(rel))

    def remove_tree(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._fresh(rel), recursive=True)

    def makedirs(self, rel: str = "") -> None:
        """Nothing to do: object stores have no folders, a key's prefix exists once it is used."""

    def sha256(self, rel: str) -> str | None:
        try:
            data = self.read_bytes(rel)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        return hashlib.sha256(data).hexdigest()

    def mtime(self, rel: str) -> float | None:
        """When ``rel`` was last written, as the filesystem reports it (``None``: unknown)."""
        try:
            info = self.fs.info(self._fresh(rel))
        except FileNotFoundError:
            return None
        for key in _MTIME_KEYS:
            value = info.get(key)
            if hasattr(value, "timestamp"):
                return float(value.timestamp())
            if isinstance(value, (int, float)):
                return float(value)
        return None

    def create_exclusive(self, rel: str, data: bytes) -> bool:
        """Create ``rel`` holding ``data`` unless it exists; True if this call created it.

        Uses the backend's conditional write where it has one (``If-None-Match`` on S3, the
        ``x`` mode of fsspec), which makes the creation exclusive. Backends without one get a
        check, a plain write and a read-back: two writers racing within one round trip may then
        both believe they won.
        """
        full = self._full(rel)
        if self.exists(rel):
            return False
        try:
            self.fs.pipe_file(full, bytes(data), mode="create")
        except FileExistsError:
            return False
        except (NotImplementedError, TypeError):  # no conditional write here
            self.fs.pipe_file(full, bytes(data))
        try:  # a backend that ignores the condition lets the last writer win: see who did
            return self.read_bytes(rel) == bytes(data)
        except FileNotFoundError:
            return False

    def zarr_store(self, rel: str) -> Any:
        from zarr.storage import FsspecStore

        return FsspecStore.from_url(self.display(rel), storage_options=self.storage_options)


StoreLocation = LocalLocation | FsspecLocation
"""A store's place: a local folder or a prefix of an fsspec filesystem."""


#: What a filesystem raises for a missing or existing entry, or a call it cannot make: callers
#: handle these; anything else means the storage itself could not be used.
_EXPECTED = (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError)
_EXPECTED += (NotImplementedError, TypeError)


class _Guarded:
    """An fsspec filesystem whose failures to reach the storage are one-line store errors.

    Missing credentials, a wrong endpoint or a network failure surface from deep inside the
    backend (botocore, gcsfs, ...); a user should read which store could not be reached and
    what to check, not the backend's traceback.
    """

    def __init__(self, fs: Any, url: str) -> None:
        self._fs, self._url = fs, url

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._fs, name)
        if not callable(attribute):
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except _EXPECTED:
                raise
            except Exception as error:
                reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
                raise StoreAccessError(
                    f"{self._url!r}: the storage could not be used ({type(error).__name__}"
                    f"{': ' + reason if reason else ''}); check its credentials, endpoint and "
                    "network (see docs/store.md#object-storage)"
                ) from error

        return guarded


class StorePath:
    """A file or folder inside a store that is not on the local filesystem.

    What :attr:`ForgettingStore.path <forgetmap.store.ForgettingStore.path>` is for such a store:
    it joins with ``/``, prints as its URL and answers the few questions code asks of a path
    (``exists``, ``is_dir``, ``glob``, ``read_bytes``). It is not ``os.PathLike``, so code that
    would open it as a local file fails at once instead of writing somewhere unexpected.
    """

    def __init__(self, location: FsspecLocation, rel: str = "") -> None:
        self.location = location
        self.rel = rel.strip("/")

    def __truediv__(self, part: str | os.PathLike[str]) -> StorePath:
        rel = posixpath.join(self.rel, os.fspath(part)) if self.rel else os.fspath(part)
        return StorePath(self.location, posixpath.normpath(rel))

    def __str__(self) -> str:
        return self.location.display(self.rel)

    def __repr__(self) -> str:
        return f"StorePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorePath) and str(other) == str(self)

    def __hash__(self) -> int:
        return hash(str(self))

    @property
    def name(self) -> str:
        return posixpath.basename(self.rel) if self.rel else posixpath.basename(self.location.url)

    @property
    def parent(self) -> StorePath:
        return StorePath(self.location, posixpath.dirname(self.rel))

    def exists(self) -> bool:
        return self.location.exists(self.rel)

    def is_dir(self) -> bool:
        return self.location.is_dir(self.rel)

    def is_file(self) -> bool:
        return self.location.is_file(self.rel)

    def iterdir(self) -> Iterator[StorePath]:
        for name in self.location.listdir(self.rel):
            yield self / name

    def glob(self, pattern: str) -> Iterator[StorePath]:
        """Entries of this folder whose names match ``pattern`` (one level, no ``**``)."""
        try:
            names = self.location.listdir(self.rel)
        except FileNotFoundError:
            return
        for name in sorted(names):
            if fnmatch.fnmatchcase(name, pattern):
                yield self / name

    def read_bytes(self) -> bytes:
        return self.location.read_bytes(self.rel)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)
