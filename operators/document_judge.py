"""LLM judgement of whether a document is informative and self-contained enough to ask a question about."""

from __future__ import annotations

from operators.context import StageContext
from operators.llm_calls import ask, llm_failure
from operators.schemas import BinaryJudgement, DocumentState

STAGE = "document_judge"


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    live = [d for d in docs if d.alive]
    for doc, res in ask(ctx, STAGE, live, STAGE, lambda d: {"document": d.chunks[0].text}, BinaryJudgement):
        if res.value is None:
            doc.record(STAGE, False, llm_failure(STAGE, res))
        else:
            doc.record(STAGE, res.value.verdict == "yes", f"{res.value.verdict}: {res.value.reason}")
