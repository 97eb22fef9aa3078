"""The learnability stage end to end on the tiny model: the policy's K=4 answers come from a real vLLM engine (one
request with n=4), and each is graded with the rubric reward on a second real engine. The candidates that reach the
stage are written by the scripted client on the default engine, since the tiny model's own candidates rightly die
at the filters before it; what the stage does with them is all real."""

from __future__ import annotations

import json
import subprocess

import pytest

from pipelines.ares import FLOW
from pipelines.output_reader import JobOutput
from pipelines.report import funnel
from tests.conftest import ARES, REPO, sample_records

pytestmark = pytest.mark.e2e
K = 4

CONFIG = """\
extends: local
run_name: ares-learnability-e2e
engines:
  default: {client: "tests.scripted_engine:ScriptedClient"}   # candidates that pass the filters
  grader:                                                     # the real tiny model grades the policy's answers
    model: ${ares.tiny_model:}
    batch_size: 6
    num_cpus: 0.5
    max_model_len: 4096
    engine_kwargs: {dtype: bfloat16, enforce_eager: true, distributed_executor_backend: uni}
    env: {VLLM_CPU_KVCACHE_SPACE: "2", VLLM_ENABLE_V1_MULTIPROCESSING: "0", OMP_NUM_THREADS: "1"}
stages:
  learnability: {enabled: true, engine: grader}
  policy_answers: {k: 4, sampling: {max_tokens: 96}}
"""


def test_every_candidate_reaching_learnability_leaves_with_k_scores_or_an_explicit_error(tmp_path, tiny_model):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(r) + "\n" for r in sample_records(1)))
    conf = tmp_path / "learnability.yaml"
    conf.write_text(CONFIG)
    out = tmp_path / "out"
    proc = subprocess.run(ARES + ["run", str(conf), f"input.path={docs}", f"output.path={out}"],
                          cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    rows = [r for r in JobOutput(str(out)).rows().to_pylist() if r["unit"] == "candidate"]
    reached = [r for r in rows if any(v["stage"] == "policy_answers" for v in r["verdicts"])]
    assert reached, "no candidate reached the learnability stage"
    for r in reached:
        policy = next(v for v in r["verdicts"] if v["stage"] == "policy_answers")
        m = r["learnability"]
        if not policy["passed"]:  # the policy's answers themselves unusable: said so, and not graded
            assert r["reject_stage"] == "policy_answers" and r["reject_reason"].startswith("policy answers unusable")
            continue
        assert m is not None and m["k"] == K and len(m["answers"]) == K and len(m["answer_hashes"]) == K
        assert len(m["scores"]) == K and len(m["errors"]) == K
        for score, error in zip(m["scores"], m["errors"]):  # each answer: a score in [0, 1] or the error, not both
            assert (score is None) != (error is None)
            assert score is None or 0.0 <= score <= 1.0
        verdict = next(v for v in r["verdicts"] if v["stage"] == "learnability")
        if any(e is not None for e in m["errors"]):  # never kept on partial numbers
            assert not verdict["passed"] and r["status"] == "rejected" and r["reject_stage"] == "learnability"
            assert r["reject_reason"].startswith("grading incomplete: answers ")
        else:
            assert m["mean"] == pytest.approx(sum(m["scores"]) / K)
            assert f"K={K}, mean {m['mean']:.2f}" in verdict["reason"]  # the numbers in the verdict, kept or not
            assert verdict["passed"] == (r["reject_stage"] != "learnability")

    # the funnel (the report's, from the rows) shows both stages with what reached them; the ledger counts them
    stages = {row["stage"]: row for row in funnel(JobOutput(str(out)), FLOW)["candidates"]}
    assert stages["policy_answers"]["in"] == len(reached)
    assert stages["learnability"]["in"] == sum(r["learnability"] is not None for r in reached)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ledger"]["stages"]["policy_answers"]["calls"] >= len(reached)
    assert summary["ledger"]["stages"]["learnability"]["output_tokens"] > 0
