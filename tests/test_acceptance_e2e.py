"""The acceptance path end to end on real parts but the model: real Ray Data (read, stage operators, checkpointing,
the parquet write on S3 over loopback), the real admission actor; a scripted engine client writes well-formed,
passing candidates (the tiny model's candidates rightly die at the filters, so they cannot show this path)."""

from __future__ import annotations

import os
import subprocess

import pyarrow as pa
import pytest

from pipelines.ares import FLOW
from tests.conftest import ARES, REPO, make_bucket, put_jsonl_gz, read_output, sample_records

pytestmark = pytest.mark.e2e
CANDIDATE_STAGES = ["synthesis", "rubric_checks", "self_containment", "faithfulness", "leakage", "rubric_judge",
                    "discriminativeness", "contamination", "admission"]


def test_accepted_instances_end_to_end_with_quotas_and_duplicates(s3_server):
    endpoint, env = s3_server
    s3 = make_bucket(endpoint, "accept")
    docs = sample_records(10)
    planted = dict(docs[0], id="copy-of-" + docs[0]["id"])  # another id, the same text: the same questions
    put_jsonl_gz(s3, "accept", "in/docs.jsonl.gz", docs + [planted])
    proc = subprocess.run(
        ARES + ["run", "local", "input.path=s3://accept/in/", "output.path=s3://accept/out",
                f"storage.endpoint_url={endpoint}", "input.limit_per_file=null", "input.records_per_block=4",
                "engines.default.batch_size=4", "engines.default.client=tests.scripted_engine:ScriptedClient",
                "stages.label.domains=[Math,Coding,Education]", "stages.admission.quota.per_domain={Math: 2}"],
        cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    accepted, rejected, summary = read_output(endpoint, "accept/out")
    acc, rej = accepted.to_pylist(), rejected.to_pylist()

    # accepted instances, each complete: split, domain, rubric, and a passing verdict from every candidate stage
    assert len(acc) >= 10
    for r in acc:
        assert r["split"] in ("train", "validation", "test")
        assert r["domain"] in ("Math", "Coding", "Education") and r["question"] and r["reference_answer"]
        assert 7 <= len(r["rubric"]) <= 10 and any(c["weight"] < 0 for c in r["rubric"])
        assert [v["stage"] for v in r["verdicts"]] == CANDIDATE_STAGES and all(v["passed"] for v in r["verdicts"])
        assert {"document_judge", "label", "document_filter"} <= {v["stage"] for v in r["document_verdicts"]}
        assert r["reference_score"] > r["flawed_score"]

    # the planted copy: its questions are exact duplicates of the original's, whichever was admitted first
    pair = [r for r in acc + rej if r["doc_id"] in (docs[0]["id"], planted["id"])]
    assert len(pair) == 4 and sum(r in acc for r in pair) <= 2
    dups = [r for r in pair if r["reject_stage"] == "dedup"]
    assert len(dups) == 2 and all(r["reject_reason"].startswith("exact duplicate of candidate ") for r in dups)
    accepted_ids = {r["candidate_id"] for r in acc}
    assert all(r["reject_reason"].rsplit(" ", 1)[1] in accepted_ids for r in dups)

    # the quota: exactly 2 Math instances; the other Math candidates are refused for it (at planning or admission)
    assert sum(r["domain"] == "Math" for r in acc) == 2
    over = [r for r in rej if r["domain"] == "Math" and r["reject_stage"] == "quota"]
    assert over and all("domain 'Math' is met" in r["reject_reason"] for r in over)

    # the summary is the rows
    allowed = {"read", "pipeline"} | {v for s in FLOW for v in s.verdict_names}
    assert {r["reject_stage"] for r in rej} <= allowed
    cands = [r for r in acc + rej if r["unit"] == "candidate"]
    assert summary["accepted"] == len(acc) and summary["candidates"] == len(cands) == 22
    assert summary["documents_read"] == 11 and summary["duplicate_candidate_ids"] == 0
    by_stage = pa.table({"s": [r["reject_stage"] for r in rej if r["unit"] == "candidate"]}).column("s").to_pylist()
    assert summary["rejected_by_stage"] == {s: by_stage.count(s) for s in set(by_stage)}
    assert summary["accepted_by_domain"] == {d: sum(r["domain"] == d for r in acc) for d in {r["domain"] for r in acc}}
    assert sum(summary["accepted_by_split"].values()) == len(acc)
    assert summary["admission"]["accepted"]["Math"] == 2
