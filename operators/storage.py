"""Filesystems for local paths, file:// and s3:// (through s3fs), and fast, one-line failures for bad locations.

Credentials come from the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or a profile),
never from the config, and never appear in messages: errors name the path and the kind of failure only.
"""

from __future__ import annotations

import posixpath
import uuid
from functools import lru_cache

import pyarrow.fs as pafs


class StorageError(RuntimeError):
    pass


def is_s3(path: str) -> bool:
    return path.startswith("s3://") or path.startswith("s3a://")


def strip_scheme(path: str) -> str:
    for prefix in ("s3://", "s3a://", "file://"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


@lru_cache(maxsize=8)
def _s3fs(endpoint_url: str | None, region: str | None, anon: bool):
    import s3fs

    client_kwargs = {}
    if endpoint_url:
        client_kwargs["endpoint_url"] = endpoint_url
    if region:
        client_kwargs["region_name"] = region
    return s3fs.S3FileSystem(
        anon=anon,
        client_kwargs=client_kwargs,
        config_kwargs={"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 3, "mode": "standard"}},
        skip_instance_cache=True,
    )


def fsspec_filesystem(path: str, storage):
    if is_s3(path):
        return _s3fs(storage.endpoint_url, storage.region, storage.anon)
    import fsspec

    return fsspec.filesystem("file")


def arrow_filesystem(path: str, storage) -> pafs.FileSystem:
    """A pyarrow filesystem for Ray Data and pyarrow; paths given to it carry no scheme."""
    if is_s3(path):
        return pafs.PyFileSystem(pafs.FSSpecHandler(fsspec_filesystem(path, storage)))
    return pafs.LocalFileSystem()


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    for secret_marker in ("Signature", "Credential="):
        if secret_marker in text:
            text = text.split(secret_marker)[0] + "..."
    return f"{type(exc).__name__}: {text}"[:300]


def check_input(path: str, storage) -> int:
    """Number of files under `path`; raises StorageError (one line) if it cannot be listed or holds none."""
    fs = fsspec_filesystem(path, storage)
    bare = strip_scheme(path)
    try:
        if any(ch in bare for ch in "*?["):
            files = fs.glob(bare)
        elif fs.isdir(bare):
            files = [p for p in fs.find(bare)]
        elif fs.exists(bare):
            files = [bare]
        else:
            raise StorageError(f"input not found: {path}")
    except StorageError:
        raise
    except PermissionError as exc:
        raise StorageError(f"input {path}: access denied (check credentials): {_describe(exc)}") from None
    except Exception as exc:
        raise StorageError(f"input {path}: cannot list it: {_describe(exc)}") from None
    if not files:
        raise StorageError(f"input {path}: no files")
    return len(files)


def check_writable(path: str, storage) -> None:
    """Write and delete a probe object under `path`, so a wrong bucket or credential fails before models load."""
    fs = fsspec_filesystem(path, storage)
    bare = strip_scheme(path).rstrip("/")
    probe = posixpath.join(bare, f".ares-probe-{uuid.uuid4().hex}")
    try:
        if not is_s3(path):
            fs.makedirs(bare, exist_ok=True)
        with fs.open(probe, "wb") as f:
            f.write(b"ok")
        fs.rm(probe)
    except PermissionError as exc:
        raise StorageError(f"output {path}: access denied (check credentials): {_describe(exc)}") from None
    except Exception as exc:
        raise StorageError(f"output {path}: not writable: {_describe(exc)}") from None


def exists(path: str, storage) -> bool:
    """Whether `path` exists. Only "not found" is False: any other failure (access denied, a server error, an
    unreachable endpoint) is a StorageError, never read as "nothing there" (a resumed job would then forget its
    committed output)."""
    fs = fsspec_filesystem(path, storage)
    try:
        return fs.exists(strip_scheme(path).rstrip("/"))
    except FileNotFoundError:
        return False
    except PermissionError as exc:
        raise StorageError(f"{path}: access denied (check credentials): {_describe(exc)}") from None
    except Exception as exc:
        raise StorageError(f"{path}: cannot check whether it exists: {_describe(exc)}") from None
