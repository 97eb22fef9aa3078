"""Document judge: is this material informative and self-contained enough for the questions people would ask?

Each chunk is judged on its own (a candidate is written from one chunk, so each one that reaches synthesis must
have passed); chunks judged "no" are dropped, and a document with no chunk left is rejected.
"""

from __future__ import annotations

from pydantic import Field

from operators.llm.ask import ask, llm_failure
from operators.llm.sampling import SamplingConfig
from operators.schemas import BinaryJudgement
from operators.stage import LLMStageConfig, StageContext, stage
from operators.state import Chunk, DocumentState

NAME = "document_judge"


class DocumentJudgeConfig(LLMStageConfig):
    sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig(max_tokens=160, temperature=0.0))


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    items: list[tuple[DocumentState, Chunk]] = [(d, c) for d in docs if d.alive for c in d.chunks]
    verdicts: dict[str, list[tuple[Chunk, bool, str]]] = {}
    for (doc, chunk), res in ask(ctx, items, lambda it: {"document": it[1].text}, BinaryJudgement):
        if res.value is None:
            passed, reason = False, llm_failure(NAME, res)
        else:
            passed, reason = res.value.verdict == "yes", f"{res.value.verdict}: {res.value.reason}"
        verdicts.setdefault(doc.record_key, []).append((chunk, passed, reason))
    for doc in docs:
        judged = verdicts.get(doc.record_key)
        if not judged:
            continue
        kept = [chunk for chunk, passed, _ in judged if passed]
        if len(judged) == 1:
            doc.record(NAME, bool(kept), judged[0][2])
        else:
            reasons = "; ".join(f"chunk {chunk.index}: {reason}" for chunk, _, reason in judged)
            doc.record(NAME, bool(kept), f"{len(kept)} of {len(judged)} chunks pass ({reasons})"[:2000])
        if kept:
            doc.chunks = kept


STAGE = stage(NAME, run, "is each chunk informative and self-contained? chunks judged no are dropped",
              reads=["document.chunks"], writes=["document.chunks"], config=DocumentJudgeConfig)
