"""End to end with real parts: Ray, vLLM on the CPU, the tiny model, S3 over HTTP on loopback (moto)."""

from __future__ import annotations

import json
import os
import subprocess

import pyarrow as pa
import pytest

from operators.output import OUTPUT_SCHEMA
from pipelines.ares import FLOW
from tests.conftest import ARES, REPO, make_bucket, put_jsonl_gz, read_output, sample_records

pytestmark = pytest.mark.e2e


def test_pipeline_reads_and_writes_s3(s3_server, tiny_model, tmp_path):
    endpoint, env = s3_server
    s3 = make_bucket(endpoint, "e2e")
    docs = sample_records(4)
    # one bad record among them: it must come out as a rejected document naming its file and row
    put_jsonl_gz(s3, "e2e", "in/part-0.jsonl.gz", docs[:2] + [{"id": "broken", "body": "no text field"}] + docs[2:])
    cmd = ARES + [
        "run", "local-two-engines",  # the generator and judge pools the cluster config has, on the tiny model
        "input.path=s3://e2e/in/", "output.path=s3://e2e/out", f"storage.endpoint_url={endpoint}",
        "input.limit_per_file=null", "stages.synthesis.sampling.max_tokens=400",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=1200)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert env["AWS_SECRET_ACCESS_KEY"] not in log  # secrets never reach logs

    accepted, rejected, summary = read_output(endpoint, "e2e/out")
    tables = [t for t in (accepted, rejected) if t is not None]
    rows = pa.concat_tables(tables).to_pylist()
    # schema-valid rows: every written column is one of the output schema's, with its type
    for t in tables:
        for field in t.schema:
            assert OUTPUT_SCHEMA.field(field.name).type == field.type, field.name

    cand_rows = [r for r in rows if r["unit"] == "candidate"]
    ids = [r["candidate_id"] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate candidate ids"
    n_accepted = accepted.num_rows if accepted is not None else 0
    n_rejected_cands = sum(1 for r in (rejected.to_pylist() if rejected is not None else []) if r["unit"] == "candidate")
    assert summary["candidates"] == len(cand_rows) == n_accepted + n_rejected_cands
    assert summary["accepted"] == n_accepted
    assert summary["documents_read"] == 5
    assert len(cand_rows) >= 4  # 4 good documents, at least one candidate each reached the end

    allowed = {"read", "pipeline"} | {v for s in FLOW for v in s.verdict_names}
    for r in (rejected.to_pylist() if rejected is not None else []):
        assert r["reject_stage"] in allowed and r["reject_reason"], r
    for r in (accepted.to_pylist() if accepted is not None else []):
        assert all(v["passed"] for v in r["verdicts"]) and r["split"], r
    assert "[ingest+document_filter+chunking] -> [document_judge+label+plan+synthesis+rubric_checks]@default -> " \
           "[self_containment+faithfulness+leakage+rubric_judge+discriminativeness+contamination+admission]@judge" in log
    models = json.loads(cand_rows[0]["models"])
    assert set(models) == {"document_judge", "label", "synthesis", "self_containment", "faithfulness", "leakage",
                           "rubric_judge", "discriminativeness"}
    for r in cand_rows:
        assert r["persona"] and r["domain"] and r["verdicts"], r
        assert r["prompts_version"] and r["models"] and r["doc_hash"]
    broken = [r for r in rows if r["doc_id"] == "broken"]
    assert len(broken) == 1 and broken[0]["unit"] == "document" and broken[0]["reject_stage"] == "read"
    assert "part-0.jsonl.gz row 3" in broken[0]["reject_reason"] and "missing text field" in broken[0]["reject_reason"]
