"""Learnability: grade the policy's K answers with the rubric reward and keep the instances that can teach.

GRPO learns only from a question whose sampled answers get different rewards; one that every answer solves (or
none does) costs compute and teaches little. Each answer is graded with the same reward the user trains with, on
this stage's engine (the judge); the record on the candidate carries K, every score, the mean, the standard
deviation and the share above the success threshold, plus the answers (or their hashes). Keep rules come from
YAML. A grading error is recorded per answer; a candidate whose grades did not all complete is rejected naming the
answers that failed, never kept on partial numbers. Off by default; `stages.learnability.enabled=true` turns it on
(with `policy_answers` before it, on `engines.policy`).
"""

from __future__ import annotations

from pydantic import Field

from operators.learnability import KeepRules, decide, measure
from operators.llm.sampling import SamplingConfig
from operators.reward import GRADER_SAMPLING, ScoreItem, score_many
from operators.stage import LLMStageConfig, StageContext, stage
from operators.state import Candidate, DocumentState

NAME = "learnability"


class LearnabilityConfig(LLMStageConfig):
    enabled: bool = False
    keep: KeepRules = Field(default_factory=KeepRules)
    keep_answers: bool = Field(True, description="Keep the policy's answers on the row (false: only their hashes).")
    sampling: SamplingConfig = Field(default_factory=lambda: GRADER_SAMPLING.model_copy(),
                                     description="The criterion grader's sampling.")


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    conf: LearnabilityConfig = ctx.conf
    cands: list[Candidate] = [c for d in docs for c in d.live_candidates()]
    items = [ScoreItem(c.question or "", answer, c.rubric, owner=c) for c in cands for answer in c.policy_answers]
    results = score_many(items, ctx.llm, conf.sampling, ctx.prompts_dir, stage=NAME) if items else []
    at = 0
    for cand in cands:
        graded = results[at: at + len(cand.policy_answers)]
        at += len(cand.policy_answers)
        errors = [None if r.ok else r.first_error for r in graded]
        rec = measure([r.score for r in graded], errors, cand.policy_answers, conf.keep.success_threshold,
                      conf.keep_answers)
        cand.learnability = rec
        cand.policy_answers = []  # carried on in the record (or as hashes), not twice
        ok, reason = decide(rec, conf.keep)
        cand.record(NAME, ok, reason, score=rec.std)


STAGE = stage(NAME, run, "the policy's K answers graded with the rubric reward: spread and difficulty kept in a band",
              reads=["candidate.question", "candidate.rubric", "candidate.policy_answers"],
              writes=["candidate.learnability"], config=LearnabilityConfig, templates=("criterion_grader",))
