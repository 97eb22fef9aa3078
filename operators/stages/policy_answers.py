"""Policy answers: K answers to each surviving question from the policy the user will train (or one like it).

One request per candidate with `n=K`, so the question's prompt is computed once for all K samples. The policy sees
the question alone, as it will during RL. This stage has no switch of its own: it runs exactly when the
`learnability` stage is enabled, which grades these answers.
"""

from __future__ import annotations

from pydantic import Field

from operators.llm.ask import ask
from operators.llm.sampling import SamplingConfig
from operators.stage import EngineUse, StageContext, stage
from operators.state import DocumentState

NAME = "policy_answers"


class PolicyAnswersConfig(EngineUse):
    engine: str = Field("policy", description="The engine pool of the policy (engines.policy by default).")
    k: int = Field(4, ge=2, le=64, description="Answers sampled per question (GRPO's group size).")
    sampling: SamplingConfig = Field(
        default_factory=lambda: SamplingConfig(max_tokens=512, temperature=1.0),
        description="How the policy samples (as during RL: temperature 1 by default); `n` is set to k.")


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    conf: PolicyAnswersConfig = ctx.conf
    sampling = conf.sampling.model_copy(update={"n": conf.k})
    cands = [c for d in docs for c in d.live_candidates()]
    asked = ask(ctx, cands, lambda c: {}, None, sampling=sampling,
                messages=lambda c: [{"role": "user", "content": c.question or ""}])
    for cand, res in asked:
        if res.error is not None or len(res.texts) != conf.k:
            why = res.error or f"{len(res.texts)} of {conf.k} answers came back"
            cand.record(NAME, False, f"policy answers unusable: {why}")
            continue
        cand.policy_answers = list(res.texts)
        cand.record(NAME, True, f"{conf.k} answers, {res.output_tokens} output tokens")


STAGE = stage(NAME, run, "K answers per question from the policy, in one request with n=K",
              reads=["candidate.question"], writes=["candidate.policy_answers"], config=PolicyAnswersConfig,
              templates=(), switched_by="learnability")  # the policy sees the question alone, no template
