"""Leakage judge: does the question give its answer away? It passes on "no"."""

from operators.llm.judge import judge_stage

STAGE = judge_stage(
    "leakage", "the question does not state or give away its answer", passes_on="no",
    values=lambda d, c: {"question": c.question, "answer": c.reference_answer},
    reads=["candidate.question", "candidate.reference_answer"],
)
