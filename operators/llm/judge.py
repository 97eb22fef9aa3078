"""A yes/no judge stage: one call per live candidate, a reason then a verdict; one value passes.

Reason first in the JSON, so the verdict is conditioned on it. A judge module declares only what it shows the
model and which verdict lets a candidate through.
"""

from __future__ import annotations

from typing import Callable, Iterable

from pydantic import Field

from operators.llm.ask import ask, llm_failure
from operators.llm.sampling import SamplingConfig
from operators.schemas import BinaryJudgement
from operators.stage import LLMStageConfig, Stage, StageContext, stage
from operators.state import Candidate, DocumentState


class JudgeConfig(LLMStageConfig):
    sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig(max_tokens=200, temperature=0.0))


def judge_stage(name: str, doc: str, passes_on: str, values: Callable[[DocumentState, Candidate], dict],
                reads: Iterable[str], config: type[JudgeConfig] = JudgeConfig) -> Stage:
    def run(docs: list[DocumentState], ctx: StageContext) -> None:
        items = [(d, c) for d in docs for c in d.live_candidates()]
        for (_, cand), res in ask(ctx, items, lambda it: values(*it), BinaryJudgement):
            if res.value is None:
                cand.record(name, False, llm_failure(name, res))
            else:
                cand.record(name, res.value.verdict == passes_on, f"{res.value.verdict}: {res.value.reason}")

    run.__name__ = run.__qualname__ = f"{name}_run"
    return stage(name, run, doc, reads=reads, config=config)
