"""Discriminativeness: the reference answer must score high on its own rubric and a deliberately flawed answer
clearly lower. Uses the rubric reward library with the stage's engine as the grader."""

from __future__ import annotations

from pydantic import Field

from operators.llm.ask import ask, llm_failure
from operators.llm.sampling import SamplingConfig
from operators.reward import ScoreItem, score_many
from operators.rubric import RubricError, check_scorable
from operators.schemas import FlawedAnswer
from operators.stage import LLMStageConfig, StageContext, stage
from operators.state import Candidate, DocumentState

NAME = "discriminativeness"


class DiscriminativenessConfig(LLMStageConfig):
    min_reference_score: float = Field(0.6, ge=0, le=1)
    min_margin: float = Field(0.2, ge=0, le=1)
    sampling: SamplingConfig = Field(
        default_factory=lambda: SamplingConfig(max_tokens=160, temperature=0.0, max_attempts=2),
        description="The criterion grader's sampling.",
    )
    flawed_answer: SamplingConfig = Field(default_factory=lambda: SamplingConfig(max_tokens=400, temperature=0.7))
    explanations: bool = Field(
        True, description="The grader explains each verdict before giving it; false: verdicts only (fewer tokens).")


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    cfg: DiscriminativenessConfig = ctx.conf
    cands: list[Candidate] = []
    for cand in (c for d in docs for c in d.live_candidates()):
        try:
            check_scorable(cand.rubric)
            cands.append(cand)
        except RubricError as exc:  # the rubric checks may be off: the reward refuses what it cannot score
            cand.record(NAME, False, f"rubric cannot be scored: {exc}")
    flawed = ask(ctx, cands, lambda c: {"question": c.question, "answer": c.reference_answer}, FlawedAnswer,
                 template="flawed_answer", sampling=cfg.flawed_answer)
    scored: list[Candidate] = []
    for cand, res in flawed:
        if res.value is None:
            cand.record(NAME, False, llm_failure("flawed answer", res))
        else:
            cand.flawed_answer = res.value.answer
            scored.append(cand)
    items = []
    for c in scored:
        items.append(ScoreItem(c.question or "", c.reference_answer or "", c.rubric, owner=c))
        items.append(ScoreItem(c.question or "", c.flawed_answer or "", c.rubric, owner=c))
    results = (score_many(items, ctx.llm, cfg.sampling, ctx.prompts_dir, stage=NAME, explanations=cfg.explanations)
               if items else [])
    for n, cand in enumerate(scored):
        ref, bad = results[2 * n], results[2 * n + 1]
        if not ref.ok or not bad.ok:
            first = ref.first_error or bad.first_error
            cand.record(NAME, False, f"judge failed on {ref.errors + bad.errors} criteria (first: {first})")
            continue
        cand.reference_score, cand.flawed_score = ref.score, bad.score
        margin = ref.score - bad.score
        ok = ref.score >= cfg.min_reference_score and margin >= cfg.min_margin
        cand.record(
            NAME, ok,
            f"reference {ref.score:.2f} (min {cfg.min_reference_score}), flawed {bad.score:.2f}, "
            f"margin {margin:.2f} (min {cfg.min_margin})",
            score=margin,
        )


STAGE = stage(
    NAME, run, "the reference answer scores high on its own rubric, a generated flawed answer clearly lower",
    reads=["candidate.question", "candidate.reference_answer", "candidate.rubric"],
    writes=["candidate.flawed_answer", "candidate.reference_score", "candidate.flawed_score"],
    config=DiscriminativenessConfig, templates=("flawed_answer", "criterion_grader"),
)
