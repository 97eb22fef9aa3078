"""Storage errors are never read as "nothing there", and a file that breaks mid-read loses no record on resume.

Against real S3 over loopback (moto), with faults injected by a proxy (tests/faulty_s3.py) or by the object itself.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from operators import storage
from operators.output import OUTPUT_SCHEMA, to_table
from pipelines.config import StorageConfig, load_config
from pipelines.preflight import JobError
from tests.conftest import ARES, REPO, make_bucket, put_jsonl_gz, read_output, sample_records
from tests.faulty_s3 import FaultyS3

SCRIPTED = "engines.default.client=tests.scripted_engine:ScriptedClient"


@pytest.fixture(scope="module")
def faulty(s3_server):
    endpoint, env = s3_server
    proxy = FaultyS3(endpoint)
    yield proxy, env
    proxy.close()


def test_a_failing_exists_check_is_an_error_not_false(faulty):
    proxy, _ = faulty
    make_bucket(proxy.url, "faults")
    cfg = StorageConfig(endpoint_url=proxy.url)
    assert storage.exists("s3://faults/out/accepted", cfg) is False  # really not there
    with proxy.failing("faults/out/"):
        with pytest.raises(storage.StorageError, match=r"s3://faults/out/accepted: cannot check whether it exists"):
            storage.exists("s3://faults/out/accepted", cfg)
    assert proxy.failed > 0


def test_the_job_stops_in_one_line_when_the_output_cannot_be_checked(faulty, tmp_path):
    proxy, env = faulty
    s3 = make_bucket(proxy.url, "faults-cli")
    put_jsonl_gz(s3, "faults-cli", "in/docs.jsonl.gz", sample_records(2))
    with proxy.failing("faults-cli/out/"):
        proc = subprocess.run(ARES + ["run", "local", "input.path=s3://faults-cli/in/", "output.path=s3://faults-cli/out",
                                      f"storage.endpoint_url={proxy.url}"],
                              cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "ares: s3://faults-cli/out/accepted: cannot check whether it exists:"), proc.stderr[-2000:]
    assert "Started a local Ray instance" not in proc.stdout + proc.stderr
    assert env["AWS_SECRET_ACCESS_KEY"] not in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_admission_state_that_cannot_be_read_stops_the_job(faulty, ray_local):
    """A resumed job whose committed output cannot be read must not start with empty quotas and duplicate index."""
    from pipelines import admission_service

    proxy, _ = faulty
    s3 = make_bucket(proxy.url, "faults-seed")
    row = {name: None for name in OUTPUT_SCHEMA.names}
    row.update(record_key="f#1", unit="candidate", candidate_id="c1", status="accepted", domain="Math",
               question="What is the sum of the interior angles of a triangle?", doc_id="d1")
    buf = pa.BufferOutputStream()
    pq.write_table(to_table([row]).drop(["status"]), buf)
    s3.put_object(Bucket="faults-seed", Key="out/accepted/part-0.parquet", Body=buf.getvalue().to_pybytes())
    cfg = load_config("local", ["input.path=s3://faults-seed/in/", "output.path=s3://faults-seed/out",
                                f"storage.endpoint_url={proxy.url}", "run_name=seed-test"])

    actor, _ = admission_service.start(cfg)  # healthy storage: seeded from the committed row
    assert admission_service.stop(cfg, actor)["seeded"] == 1
    with proxy.failing("faults-seed/out/"):
        with pytest.raises(JobError, match=r"^output s3://faults-seed/out: admission state could not be rebuilt: "
                                           r"StorageError: s3://faults-seed/out/accepted: cannot check"):
            admission_service.start(cfg)


@pytest.mark.e2e
def test_a_record_after_a_mid_file_read_error_is_read_on_resume(s3_server, tmp_path):
    """The first run sees the file cut mid-way (its error row names where); the file is whole again when the job is
    resumed: every record after the cut is processed then, none is taken for already written."""
    endpoint, env = s3_server
    s3 = make_bucket(endpoint, "midfile")
    docs = sample_records(30)  # enough that the cut falls after the first read of the stream
    whole = gzip.compress("".join(json.dumps(r) + "\n" for r in docs).encode())
    s3.put_object(Bucket="midfile", Key="in/docs.jsonl.gz", Body=whole[: len(whole) * 2 // 3])  # cut
    args = ARES + ["run", "local", "input.path=s3://midfile/in/", "output.path=s3://midfile/out",
                   f"storage.endpoint_url={endpoint}", "input.limit_per_file=null", SCRIPTED]
    run = lambda: subprocess.run(args, cwd=REPO, env={**os.environ, **env}, capture_output=True,  # noqa: E731
                                 text=True, timeout=600)
    first = run()
    assert first.returncode == 0, first.stderr[-3000:]
    _, rejected, _ = read_output(endpoint, "midfile/out")
    (cut,) = [r for r in rejected.to_pylist() if r["reject_stage"] == "read"]
    n_read = int(cut["record_key"].rsplit("unreadable-after-", 1)[1])
    assert 0 < n_read < len(docs) and cut["reject_reason"].startswith(f"{cut['source']} row {n_read + 1}: file unreadable")

    s3.put_object(Bucket="midfile", Key="in/docs.jsonl.gz", Body=whole)  # the file is whole again
    second = run()
    assert second.returncode == 0, second.stderr[-3000:]
    accepted, rejected, summary = read_output(endpoint, "midfile/out")
    rows = pa.concat_tables([t for t in (accepted, rejected) if t is not None]).to_pylist()
    assert {r["doc_id"] for r in rows if r["unit"] == "candidate"} == {d["id"] for d in docs}
    assert summary["mode"] == "resume" and summary["duplicate_candidate_ids"] == 0
