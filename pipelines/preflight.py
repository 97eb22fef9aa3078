"""Everything that can fail cheaply fails here, before Ray starts or a model loads: model folders, input and output
locations, credentials, an existing output. Returns whether the job starts fresh or resumes its checkpoint."""

from __future__ import annotations

import logging

from operators import storage
from pipelines.checkpoint_repair import complete_interrupted_commits
from pipelines.config import Config, check_local_paths

log = logging.getLogger("ares")


class JobError(RuntimeError):
    """A job that cannot start or finish; the message is meant for the user as it is."""


def _output_state(cfg: Config) -> tuple[bool, bool]:
    """(output holds data, checkpoint exists)."""
    has_data = any(storage.exists(f"{cfg.output.path.rstrip('/')}/{d}", cfg.storage) for d in ("accepted", "rejected"))
    return has_data, storage.exists(cfg.checkpoint_path, cfg.storage)


def _delete(path: str, cfg: Config) -> None:
    fs = storage.fsspec_filesystem(path, cfg.storage)
    bare = storage.strip_scheme(path).rstrip("/")
    if fs.exists(bare):
        fs.rm(bare, recursive=True)


def preflight(cfg: Config) -> str:
    """Check everything that can be checked before Ray starts; return 'fresh' or 'resume'."""
    if cfg.ray.address == "local":
        check_local_paths(cfg)
    try:
        n_files = storage.check_input(cfg.input.path, cfg.storage)
        has_data, has_ckpt = _output_state(cfg)
        if has_data or has_ckpt:
            if cfg.output.on_existing == "error":
                raise JobError(f"output {cfg.output.path} already exists (output.on_existing=error)")
            if cfg.output.on_existing == "overwrite":
                _delete(cfg.output.path, cfg)
                _delete(cfg.checkpoint_path, cfg)
                has_data = has_ckpt = False
            elif has_data and not has_ckpt:
                raise JobError(
                    f"output {cfg.output.path} holds data but no checkpoint at {cfg.checkpoint_path}: it cannot be "
                    "resumed safely; choose another output.path or set output.on_existing=overwrite"
                )
        storage.check_writable(cfg.output.path, cfg.storage)
        storage.check_writable(cfg.checkpoint_path, cfg.storage)
        if has_ckpt:
            complete_interrupted_commits(
                storage.fsspec_filesystem(cfg.checkpoint_path, cfg.storage),
                storage.strip_scheme(cfg.checkpoint_path).rstrip("/"),
            )
    except storage.StorageError as exc:
        raise JobError(str(exc)) from None
    mode = "resume" if has_ckpt else "fresh"
    log.info("input %s: %d file(s); output %s (%s)", cfg.input.path, n_files, cfg.output.path, mode)
    return mode
