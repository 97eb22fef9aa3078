"""The learnability stage pair in the pipeline's runner, in process, with the scripted engine client: every
candidate reaching it leaves with K scores or an explicit error; the stages are off by default."""

from __future__ import annotations

import json

import pytest

from operators.llm.client import LLMResult
from operators.llm.parsing import parse_output
from operators.stages import learnability, policy_answers
from pipelines.config import ConfigError, load_config
from tests.scripted_engine import ScriptedClient
from tests.test_stage_contracts import _rows, run_in_process

SCRIPTED = ["engines.default.client=tests.scripted_engine:ScriptedClient",
            "engines.policy.client=tests.scripted_engine:ScriptedClient"]


def test_off_by_default_and_one_override_turns_it_on():
    names = lambda cfg: [s.name for s in cfg.active_stages()]  # noqa: E731
    assert "learnability" not in names(load_config("local")) and "policy_answers" not in names(load_config("local"))
    on = names(load_config("local", ["stages.learnability.enabled=true"]))
    assert on.index("discriminativeness") < on.index("policy_answers") < on.index("learnability") < on.index("admission")
    # the cluster config names no policy engine: turning learnability on there says which engine is missing
    with pytest.raises(ConfigError, match="stages.policy_answers.engine: unknown engine 'policy'"):
        load_config("cluster", ["stages.learnability.enabled=true", "input.path=s3://b/i", "output.path=s3://b/o"])


def test_every_candidate_leaves_with_k_scores():
    cfg = load_config("local", SCRIPTED + ["stages.learnability.enabled=true", "stages.policy_answers.k=4"])
    out = run_in_process(cfg, _rows(3))
    cands = [r for r in out if r["unit"] == "candidate"]
    assert len(cands) == 6
    for r in cands:
        rec = r["learnability"]
        assert rec["k"] == 4 and len(rec["scores"]) == 4 and all(s is not None for s in rec["scores"])
        assert rec["scores"][0::2] == [1.0, 1.0] and max(rec["scores"][1::2]) < 1.0  # the flawed ones score lower
        assert rec["mean"] == pytest.approx(sum(rec["scores"]) / 4) and rec["std"] > 0
        assert len(rec["answers"]) == 4 and len(rec["answer_hashes"]) == 4
        stages = [v["stage"] for v in r["verdicts"]]
        assert stages.index("discriminativeness") < stages.index("policy_answers") < stages.index("learnability")
        (v,) = [v for v in r["verdicts"] if v["stage"] == "learnability"]
        assert v["passed"] and v["reason"].startswith("K=4, mean ") and r["status"] == "accepted"


def test_answers_only_hashed_when_asked():
    cfg = load_config("local", SCRIPTED + ["stages.learnability.enabled=true", "stages.learnability.keep_answers=false"])
    (r, *_) = [r for r in run_in_process(cfg, _rows(1)) if r["unit"] == "candidate"]
    assert r["learnability"]["answers"] is None and len(r["learnability"]["answer_hashes"]) == 4


class GarbleOne(ScriptedClient):
    """Grades as the scripted client does, but every grading of the policy's answer 1 comes back unparseable."""

    def run(self, requests):
        out = super().run(requests)
        for i, req in enumerate(requests):
            if req.stage == "learnability" and "Answer 1 to:" in req.messages[-1]["content"]:
                out[i] = LLMResult(*parse_output('{"explanation": "cut', "stop", req.output), '{"explanation": "cut')
        return out


def test_a_grading_error_is_explicit_and_never_scored_on_partial_numbers(monkeypatch):
    import tests.scripted_engine as se

    monkeypatch.setattr(se, "ScriptedClient", GarbleOne)
    cfg = load_config("local", SCRIPTED + ["stages.learnability.enabled=true"])
    for r in (r for r in run_in_process(cfg, _rows(2)) if r["unit"] == "candidate"):
        rec = r["learnability"]
        assert rec["scores"][1] is None and rec["errors"][1].startswith("invalid JSON")
        assert rec["mean"] is None and rec["std"] is None
        assert r["status"] == "rejected" and r["reject_stage"] == "learnability"
        assert r["reject_reason"].startswith("grading incomplete: answers 1 of 4 failed (first: invalid JSON")


def test_keep_rules_come_from_yaml():  # the scripted answers' mean is 0.5: above a band that ends at 0.4
    cfg = load_config("local", SCRIPTED + ["stages.learnability.enabled=true", "stages.learnability.keep.max_mean=0.4"])
    cands = [r for r in run_in_process(cfg, _rows(1)) if r["unit"] == "candidate"]
    assert all(r["reject_stage"] == "learnability" and r["reject_reason"].startswith("too easy: K=4") for r in cands)
