"""A yes/no judge stage: one call per live candidate, a reason then a verdict; one value passes.

Reason first in the JSON, so the verdict is conditioned on it. A judge module declares only what it shows the
model and which verdict lets a candidate through. Points the deterministic checks flagged for this judge are
appended to its prompt; it rules on each (`operators.llm.flags`), and an upheld one rejects the candidate.
"""

from __future__ import annotations

from typing import Callable, Iterable

from pydantic import Field

from operators.llm.ask import ask, llm_failure
from operators.llm.flags import RuledJudgement, binary_schema, flags_block, rule
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
        mine = lambda it: it[1].flags_for(name)  # noqa: E731
        answers = ask(ctx, items, lambda it: values(*it),
                      lambda it: RuledJudgement if mine(it) else BinaryJudgement,
                      schema=lambda it: binary_schema(len(mine(it))), suffix=lambda it: flags_block(mine(it)))
        for (_, cand), res in answers:
            if res.value is None:
                cand.record(name, False, llm_failure(name, res))
                continue
            reason = f"{res.value.verdict}: {res.value.reason}"
            flags = mine((None, cand))
            if flags:
                ruled = rule(flags, getattr(res.value, "flags", []))
                if ruled is None:
                    cand.record(name, False, f"{name} output unusable: no ruling for each of {len(flags)} flagged "
                                             f"points")
                    continue
                upheld, note = ruled
                if upheld:
                    cand.record(name, False, f"flagged point upheld: {upheld[0].detail} ({reason})")
                    continue
                reason += f" [{note}]"
            cand.record(name, res.value.verdict == passes_on, reason)

    run.__name__ = run.__qualname__ = f"{name}_run"
    return stage(name, run, doc, reads=reads, config=config)
