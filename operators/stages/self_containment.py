"""Self-containment judge: can a reader answer the question without the document? It sees the question alone,
as the reader will."""

from operators.llm.judge import judge_stage

STAGE = judge_stage(
    "self_containment", "the question makes sense and can be answered without the document", passes_on="yes",
    values=lambda d, c: {"question": c.question}, reads=["candidate.question"],
)
