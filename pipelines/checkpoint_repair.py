"""Finish the checkpoint commits a killed job left half done, before Ray Data's recovery reads the checkpoint.

Ray Data (2.60) writes a block's checkpoint as `<id>.pending.parquet`, then the data files `<id>-*.parquet`, then
commits by moving the pending file to `<id>.parquet`. On S3 a move is a copy and a delete, so a job killed between
the two leaves both files. Ray's recovery deletes the data files of every pending checkpoint but keeps the committed
copy: the rows count as written while their data is gone, and the resumed job silently loses them (seen in
tests/test_resume.py). Both files present means the data write had finished, since the commit runs after it; the
repair is what Ray's own commit does when retried: delete the pending file, keep the data.
"""

from __future__ import annotations

import logging
import posixpath

log = logging.getLogger("ares")


def complete_interrupted_commits(fs, checkpoint_dir: str) -> list[str]:
    """Delete every pending checkpoint whose committed copy exists; return the checkpoint ids so completed.

    `fs` is an fsspec filesystem and `checkpoint_dir` a path on it without a scheme. Pending checkpoints without a
    committed copy are left to Ray, which rightly removes their (possibly partial) data and redoes their rows."""
    from ray.data.checkpoint.checkpoint_writer import PENDING_CHECKPOINT_SUFFIX

    pending_suffix = f"{PENDING_CHECKPOINT_SUFFIX}.parquet"
    fs.invalidate_cache(checkpoint_dir)
    if not fs.exists(checkpoint_dir):
        return []
    names = {posixpath.basename(p.rstrip("/")) for p in fs.ls(checkpoint_dir, detail=False)}
    completed = []
    for name in sorted(names):
        if name.endswith(pending_suffix):
            checkpoint_id = name[: -len(pending_suffix)]
            if f"{checkpoint_id}.parquet" in names:
                fs.rm(posixpath.join(checkpoint_dir.rstrip("/"), name))
                completed.append(checkpoint_id)
    if completed:
        log.info("checkpoint: completed %d commit(s) interrupted between copy and delete: %s",
                 len(completed), ", ".join(completed))
    return completed
