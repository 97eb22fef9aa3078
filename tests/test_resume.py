"""Kill-and-resume on S3 over loopback: a job killed twice, at different points (the driver with SIGKILL, an engine
actor with SIGKILL), then rerun with the same command, ends with exactly the candidates of an uninterrupted run:
none lost, none duplicated.

Which candidates an uninterrupted run makes is fixed by the input alone here (personas from a file, no LLM document
filter, one chunk per document): the plan stage names them by record, chunk and persona slot
(`operators.stages.plan.candidate_id`), so the expected ids are computed from the input instead of from a fourth
real-model run."""

from __future__ import annotations

import os
import re
import signal

import pyarrow as pa
import pytest

from operators.stages.plan import candidate_id
from tests.conftest import Run, make_bucket, put_jsonl_gz, read_output, sample_records

pytestmark = pytest.mark.e2e

# Personas from a file and no LLM document filter: which candidates exist is then fixed by the input alone, so the
# resumed output can be compared id by id with what an uninterrupted run makes.
COMMON = [
    "--verbose",  # the engine actors' own lines (with their pids) are what this test watches
    "input.limit_per_file=null",
    "input.records_per_block=2",
    "engines.default.batch_size=2",
    "engines.default.max_concurrent_batches=2",  # a batch in flight beside the one that finishes when a kill comes
    "stages.document_judge.enabled=false",
    "stages.label.persona_file=data/sample/personas.jsonl",
    "stages.label.sampling.temperature=0.0",
    "stages.synthesis.sampling.max_tokens=64",  # cut or not, a candidate row: what resume must keep
]


def output_files(endpoint: str, prefix: str) -> int:
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)
    return len([p for p in fs.find(prefix) if p.endswith(".parquet")]) if fs.exists(prefix) else 0


def committed_rows(endpoint: str, prefix: str) -> int:
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)
    paths = [p for p in fs.find(prefix) if p.endswith(".parquet")] if fs.exists(prefix) else []
    afs = pafs.PyFileSystem(pafs.FSSpecHandler(fs))
    return pads.dataset(paths, filesystem=afs, format="parquet").count_rows() if paths else 0


def written_rows(endpoint: str, prefix: str) -> list[dict]:
    accepted, rejected, _ = read_output(endpoint, prefix)
    table = pa.concat_tables([t for t in (accepted, rejected) if t is not None])
    return table.select(["record_key", "candidate_id", "unit"]).to_pylist()


def is_progress(line: str) -> bool:
    return "[ares] " in line and "candidates" in line


def test_killed_twice_then_resumed_equals_full_run(s3_server, tiny_model, tmp_path):
    endpoint, env = s3_server
    s3 = make_bucket(endpoint, "resume")
    put_jsonl_gz(s3, "resume", "in/docs.jsonl.gz", sample_records(8))
    args = lambda out: ["run", "local", "input.path=s3://resume/in/", f"output.path=s3://resume/{out}",  # noqa: E731
                        f"storage.endpoint_url={endpoint}", *COMMON]

    # What an uninterrupted run writes: 8 documents x 1 chunk x 2 personas, one row per candidate.
    records = [f"resume/in/docs.jsonl.gz#{row}" for row in range(1, 9)]
    expected = sorted(candidate_id(key, 0, slot) for key in records for slot in range(2))
    assert len(set(expected)) == 16

    # Kill 1: the driver, as soon as the engine stage has finished its first batch.
    run1 = Run(args("resumed"), env, tmp_path / "run1.log")
    run1.wait_for(is_progress)
    run1.kill_driver()
    files_after_kill1 = output_files(endpoint, "resume/resumed")

    # Kill 2: first the engine actor (Ray restarts it and retries its batch), then the driver once more output
    # has been committed than before: a later point of the job than kill 1.
    run2 = Run(args("resumed"), env, tmp_path / "run2.log")
    line = run2.wait_for(is_progress)
    engine_pid = int(re.search(r"pid=(\d+)", line).group(1))
    os.kill(engine_pid, signal.SIGKILL)
    # a restarted engine actor (another process) takes the work up again
    run2.wait_for(lambda ln: is_progress(ln) and f"pid={engine_pid})" not in ln)
    run2.wait_for(lambda _: output_files(endpoint, "resume/resumed") > files_after_kill1)
    run2.kill_driver()
    assert 0 < committed_rows(endpoint, "resume/resumed") < 16  # killed with part, not all, of the output written

    run3 = Run(args("resumed"), env, tmp_path / "run3.log")
    assert run3.finish() == 0, run3.text[-3000:]
    assert "output s3://resume/resumed (resume)" in run3.text  # it resumed from the checkpoint

    rows = written_rows(endpoint, "resume/resumed")
    assert all(r["unit"] == "candidate" for r in rows), rows  # every document made its candidates
    assert {r["record_key"] for r in rows} == set(records)
    got = [r["candidate_id"] for r in rows]
    assert len(got) == len(set(got)), "duplicate candidate ids after resume"
    assert sorted(got) == expected, "resumed output differs from what an uninterrupted run writes"
    _, _, summary = read_output(endpoint, "resume/resumed")
    assert summary["mode"] == "resume" and summary["duplicate_candidate_ids"] == 0
    assert summary["candidates"] == 16 and summary["documents_read"] == 8
