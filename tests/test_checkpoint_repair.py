"""A commit that a kill cut between its copy and its delete (S3 has no rename) must not cost the rows it committed.

Ray Data's recovery deletes the data files of every pending checkpoint, even one whose committed copy exists, so
without the repair the resumed job skips those rows (committed) while their data is gone. Seen once in
tests/test_resume.py on S3 over loopback: 2 documents lost."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from pipelines.checkpoint_repair import complete_interrupted_commits
from tests.conftest import make_bucket


def test_only_pending_checkpoints_with_a_committed_copy_are_completed(s3_server):
    import s3fs

    endpoint, _ = s3_server
    s3 = make_bucket(endpoint, "repair")
    for key in ("ckpt/a.parquet", "ckpt/a.pending.parquet", "ckpt/b.pending.parquet", "ckpt/c.parquet"):
        s3.put_object(Bucket="repair", Key=key, Body=b"x")
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)
    assert complete_interrupted_commits(fs, "repair/ckpt") == ["a"]
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="repair")["Contents"])
    # b's commit never started: Ray must still delete its data and redo its rows, so its pending file stays
    assert left == ["ckpt/a.parquet", "ckpt/b.pending.parquet", "ckpt/c.parquet"]
    assert complete_interrupted_commits(fs, "repair/nowhere") == []


# Each write is its own process, as a resumed job is (Ray Data's checkpoint is loaded once per process).
WRITE_JOB = """
import sys
import ray
from ray.data import DataContext
from ray.data.checkpoint import CheckpointConfig

src, out, ckpt = sys.argv[1:4]
ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
DataContext.get_current().checkpoint_config = CheckpointConfig(
    id_column="record_key", checkpoint_path=ckpt, delete_checkpoint_on_success=False)
ds = ray.data.read_parquet(src).map_batches(lambda batch: batch, batch_size=2, batch_format="pyarrow")
ds.write_parquet(out, partition_cols=["status"], partitioning_flavor=None)
"""


def _write_with_checkpoint(src, out, ckpt):
    done = subprocess.run([sys.executable, "-c", WRITE_JOB, str(src), str(out), str(ckpt)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]


def test_resume_after_a_commit_cut_between_copy_and_delete_loses_nothing(tmp_path):
    import fsspec

    src, out, ckpt = tmp_path / "in", tmp_path / "out", tmp_path / "ckpt"
    src.mkdir()
    for f in range(4):
        keys = [f"doc{f}#{r}" for r in range(2)]
        pq.write_table(pa.table({"record_key": keys, "status": ["rejected"] * 2}), src / f"part{f}.parquet")
    _write_with_checkpoint(src, out, ckpt)
    committed = sorted(ckpt.glob("*.parquet"))
    assert committed

    # the state a kill leaves between the copy and the delete of one commit
    victim = committed[0]
    shutil.copy(victim, victim.with_name(victim.name[: -len(".parquet")] + ".pending.parquet"))
    assert complete_interrupted_commits(fsspec.filesystem("file"), str(ckpt)) == [victim.name[: -len(".parquet")]]

    _write_with_checkpoint(src, out, ckpt)  # the resumed run
    files = [str(f) for f in out.rglob("*.parquet")]  # without the repair Ray deletes the data: none are left
    got = pads.dataset(files, format="parquet").to_table().column("record_key").to_pylist() if files else []
    assert sorted(got) == sorted(f"doc{f}#{r}" for f in range(4) for r in range(2))
