"""LLM validation judges: self-containment, faithfulness, no leakage, rubric quality.

Each is a yes/no judgement with a reason (reason first in the JSON, so the verdict follows from it). The document
is given only to the faithfulness judge: self-containment is judged as the reader will see the question, alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from operators.context import StageContext
from operators.llm_calls import ask, llm_failure
from operators.schemas import BinaryJudgement, Candidate, DocumentState


def rubric_text(cand: Candidate) -> str:
    return "\n".join(f"{i}. [{it.weight:+d}] {it.criterion}" for i, it in enumerate(cand.rubric))


@dataclass(frozen=True)
class Judge:
    stage: str
    passes_on: str  # the verdict ("yes" or "no") that lets a candidate through
    values: Callable[[DocumentState, Candidate], dict]

    def __call__(self, docs: list[DocumentState], ctx: StageContext) -> None:
        items = [(d, c) for d in docs for c in d.live_candidates()]
        results = ask(ctx, self.stage, items, self.stage, lambda it: self.values(*it), BinaryJudgement)
        for (_, cand), res in results:
            if res.value is None:
                cand.record(self.stage, False, llm_failure(self.stage, res))
            else:
                cand.record(self.stage, res.value.verdict == self.passes_on, f"{res.value.verdict}: {res.value.reason}")


self_containment = Judge("self_containment", "yes", lambda d, c: {"question": c.question})
faithfulness = Judge(
    "faithfulness",
    "yes",
    lambda d, c: {"document": d.chunks[c.chunk_index].text, "question": c.question, "answer": c.reference_answer},
)
leakage = Judge("leakage", "no", lambda d, c: {"question": c.question, "answer": c.reference_answer})
rubric_judge = Judge("rubric_judge", "yes", lambda d, c: {"question": c.question, "rubric": rubric_text(c)})
