"""Discriminativeness: the reference answer must score high on its own rubric and a deliberately flawed answer
clearly lower. Uses the rubric reward library with the stage's engine as the judge."""

from __future__ import annotations

from operators.context import StageContext
from operators.llm_calls import ask, llm_failure
from operators.llm_engine import sampling_from
from operators.reward import ScoreItem, score_many
from operators.schemas import Candidate, DocumentState, FlawedAnswer

STAGE = "discriminativeness"


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    cfg = ctx.cfg.stages.discriminativeness
    cands: list[Candidate] = [c for d in docs for c in d.live_candidates()]
    flawed = ask(
        ctx, STAGE, cands, "flawed_answer",
        lambda c: {"question": c.question, "answer": c.reference_answer}, FlawedAnswer, sampling=cfg.flawed_answer,
    )
    scored: list[Candidate] = []
    for cand, res in flawed:
        if res.value is None:
            cand.record(STAGE, False, llm_failure("flawed answer", res))
        else:
            cand.flawed_answer = res.value.answer
            scored.append(cand)
    items = []
    for c in scored:
        items.append(ScoreItem(c.question or "", c.reference_answer or "", c.rubric))
        items.append(ScoreItem(c.question or "", c.flawed_answer or "", c.rubric))
    results = score_many(items, ctx.llm, sampling_from(cfg.sampling), ctx.prompts_dir) if items else []
    for n, cand in enumerate(scored):
        ref, bad = results[2 * n], results[2 * n + 1]
        if not ref.ok or not bad.ok:
            errors = ref.errors + bad.errors
            first = next((v.error for r in (ref, bad) for v in r.verdicts if v.error), None)
            reason = (f"judge failed on {errors} criteria (first: {first})" if first
                      else "rubric has no positive weight to normalise by")
            cand.record(STAGE, False, reason)
            continue
        cand.reference_score, cand.flawed_score = ref.score, bad.score
        margin = ref.score - bad.score
        ok = ref.score >= cfg.min_reference_score and margin >= cfg.min_margin
        cand.record(
            STAGE, ok,
            f"reference {ref.score:.2f} (min {cfg.min_reference_score}), flawed {bad.score:.2f}, "
            f"margin {margin:.2f} (min {cfg.min_margin})",
            score=margin,
        )
