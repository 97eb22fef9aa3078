"""Document judge: is this material informative and self-contained enough to ask a question about?"""

from __future__ import annotations

from pydantic import Field

from operators.llm.ask import ask, llm_failure
from operators.llm.sampling import SamplingConfig
from operators.schemas import BinaryJudgement
from operators.stage import LLMStageConfig, StageContext, stage
from operators.state import DocumentState

NAME = "document_judge"


class DocumentJudgeConfig(LLMStageConfig):
    sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig(max_tokens=160, temperature=0.0))


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    live = [d for d in docs if d.alive]
    for doc, res in ask(ctx, live, lambda d: {"document": d.chunks[0].text}, BinaryJudgement):
        if res.value is None:
            doc.record(NAME, False, llm_failure(NAME, res))
        else:
            doc.record(NAME, res.value.verdict == "yes", f"{res.value.verdict}: {res.value.reason}")


STAGE = stage(NAME, run, "is the material informative and self-contained?",
              reads=["document.chunks"], config=DocumentJudgeConfig)
