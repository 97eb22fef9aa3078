"""Bad input has a defined outcome: a reject naming the file and row, or a fast one-line failure before any model
loads. Reads go through the real Ray Data datasource."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time

import pytest

from operators.read_documents import DocumentDatasource
from operators.services.admission import Admission, AdmissionClient, DedupConfig, QuotaConfig
from operators.stages import chunking, document_filter, ingest
from operators.state import DocumentState
from pipelines.config import load_config
from tests.conftest import ARES, REPO, _free_port, make_bucket, put_jsonl_gz, run_stages, sample_records

GOOD = sample_records(3)


def jsonl(records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def bad_folder(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a_good.jsonl.gz").write_bytes(gzip.compress(jsonl(GOOD[:2])))
    whole = gzip.compress(jsonl([dict(r, id=f"t-{r['id']}") for r in sample_records()]))
    (d / "b_truncated.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (d / "c_utf8.jsonl").write_bytes(jsonl(GOOD[2:3]) + b'{"id": "bad-bytes", "text": "caf\xe9 \xff"}\n')
    (d / "d_fields.jsonl").write_bytes(
        jsonl([{"id": "no-text", "body": "x"}, {"id": "empty", "text": "   "}, {"id": 7, "text": 12}])
        + b"{not json\n"
    )
    (d / "e_corrupt.parquet").write_bytes(b"PAR1 this is not a parquet file at all")
    import random

    rng = random.Random(7)
    vocab = sorted({w.strip(".,;:()") for r in sample_records() for w in r["text"].split()} - {""})
    sentence = lambda: " ".join(rng.choice(vocab) for _ in range(14)).capitalize() + "."  # noqa: E731
    big = "\n\n".join(" ".join(sentence() for _ in range(12)) for _ in range(5200))  # ~5 MB, no two lines alike
    (d / "f_big.jsonl").write_bytes(jsonl([{"id": "big", "text": big}]))
    (d / "g_dupes.jsonl").write_bytes(jsonl([dict(GOOD[0]), dict(GOOD[0], text=GOOD[1]["text"])]))
    return d


def read_all(path) -> list[dict]:
    import ray

    ds = ray.data.read_datasource(DocumentDatasource(str(path), records_per_block=4))
    return sorted(ds.take_all(), key=lambda r: (r["source"], r["row"]))


def by_file(rows, name):
    return [r for r in rows if r["source"].endswith(name)]


def test_each_bad_record_becomes_a_row_naming_file_and_row(ray_local, bad_folder):
    rows = read_all(bad_folder)
    assert len({r["record_key"] for r in rows}) == len(rows)  # unique checkpoint ids, duplicates in ids or not

    good = by_file(rows, "a_good.jsonl.gz")
    assert [r["doc_id"] for r in good] == [GOOD[0]["id"], GOOD[1]["id"]] and not any(r["error"] for r in good)

    trunc = by_file(rows, "b_truncated.jsonl.gz")
    assert trunc[-1]["error"].startswith(f"file unreadable after line {len(trunc) - 1}")
    assert all(r["error"] is None for r in trunc[:-1]) and len(trunc) >= 10  # the intact part is kept

    utf8 = by_file(rows, "c_utf8.jsonl")
    assert utf8[0]["error"] is None and utf8[1]["row"] == 2 and "invalid UTF-8" in utf8[1]["error"]

    fields = {r["row"]: r for r in by_file(rows, "d_fields.jsonl")}
    assert fields[1]["error"] == "missing text field 'text'" and fields[1]["doc_id"] == "no-text"
    assert fields[2]["error"] == "empty text"
    assert fields[3]["error"] == "text field 'text' is a int, not a string"
    assert fields[4]["error"].startswith("invalid JSON")

    (corrupt,) = by_file(rows, "e_corrupt.parquet")
    assert corrupt["error"].startswith("corrupt parquet file")

    (big,) = by_file(rows, "f_big.jsonl")
    assert big["error"] is None and len(big["text"]) > 5_000_000


def test_rejects_carry_file_and_row_and_duplicates_name_the_first(ray_local, bad_folder):
    cfg = load_config("local")
    admission = AdmissionClient(Admission(QuotaConfig(), DedupConfig(threshold=0.8, num_perm=64), 1.0))
    docs = [DocumentState.from_read_row(r) for r in read_all(bad_folder)]
    run_stages(docs, cfg, ingest.STAGE, document_filter.STAGE, chunking.STAGE, services={"admission": admission})
    rejected = {d.record_key: d for d in docs if not d.alive}
    for d in rejected.values():
        assert d.reject_reason.startswith(f"{d.source} row {d.row}: ") or d.reject_stage == "document_filter"
    dupes = [d for d in docs if d.reject_reason and "duplicate document id" in d.reject_reason]
    assert len(dupes) == 2 and all(d.source.endswith("g_dupes.jsonl") for d in dupes)
    assert all(f"first seen at {bad_folder}/a_good.jsonl.gz#1" in d.reject_reason for d in dupes)
    big = next(d for d in docs if d.doc_id == "big")
    assert big.alive and len(big.chunks) == cfg.stages.chunking.max_chunks_per_document
    assert all(len(c.text) <= cfg.stages.chunking.chunk_chars for c in big.chunks) and big.text is None
    intact = [d for d in docs if d.source.endswith("b_truncated.jsonl.gz") and d.reject_stage != "read"]
    assert sum(d.alive for d in docs) == 3 + 1 + len(intact)  # the good ones, the big one, the intact truncated part


def run_cli(args, env=None, timeout=120):
    started = time.time()
    proc = subprocess.run(ARES + args, cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)
    return proc, time.time() - started


def assert_fails_fast(proc, seconds, message):
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-2000:]
    assert message in proc.stderr, out[-2000:]
    assert "Started a local Ray instance" not in out and "Loading safetensors" not in out
    assert seconds < 90


def test_misspelled_bucket_fails_before_any_model_loads(s3_server, tmp_path):
    endpoint, env = s3_server
    proc, secs = run_cli(["run", "local", "input.path=s3://no-such-bucket-x/in/", f"output.path={tmp_path}/o",
                          f"storage.endpoint_url={endpoint}"], env)
    assert_fails_fast(proc, secs, "ares: input not found: s3://no-such-bucket-x/in/")


def test_unreachable_endpoint_fails_fast(tmp_path):
    port = _free_port()  # nothing listens there
    proc, secs = run_cli(["run", "local", "input.path=s3://bucket/in/", f"output.path={tmp_path}/o",
                          f"storage.endpoint_url=http://127.0.0.1:{port}"],
                         {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})
    assert_fails_fast(proc, secs, "ares: input s3://bucket/in/: cannot list it")


def test_unwritable_output_bucket_fails_fast(s3_server, tmp_path):
    endpoint, env = s3_server
    s3 = make_bucket(endpoint, "readable")
    put_jsonl_gz(s3, "readable", "in/docs.jsonl.gz", GOOD)
    proc, secs = run_cli(["run", "local", "input.path=s3://readable/in/", "output.path=s3://missing-out-bucket/o",
                          f"storage.endpoint_url={endpoint}"], env)
    assert_fails_fast(proc, secs, "ares: output s3://missing-out-bucket/o: not writable")


@pytest.fixture
def s3_with_auth(tmp_path):
    """A second moto server that checks credentials (INITIAL_NO_AUTH_ACTION_COUNT=0): unknown keys are refused."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import urllib.request

    for _ in range(60):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            break
        except Exception:
            time.sleep(0.5)
    yield f"http://127.0.0.1:{port}"
    proc.kill()


def test_wrong_credentials_fail_fast_without_leaking_them(s3_with_auth, tmp_path):
    secret = "wrong-secret-value-123"
    proc, secs = run_cli(["run", "local", "input.path=s3://some-bucket/in/", f"output.path={tmp_path}/o",
                          f"storage.endpoint_url={s3_with_auth}"],
                         {"AWS_ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG1", "AWS_SECRET_ACCESS_KEY": secret})
    assert_fails_fast(proc, secs, "ares: input s3://some-bucket/in/: ")
    assert secret not in proc.stdout + proc.stderr
    assert "access denied" in proc.stderr or "InvalidAccessKeyId" in proc.stderr or "Forbidden" in proc.stderr
